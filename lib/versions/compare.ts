import * as pep440 from "@renovatebot/pep440";
import semver from "semver";
import { compareApk } from "./alpine";
import { compareDebian } from "./debian";
import { compareGeneric } from "./generic";
import { compareMaven } from "./maven";
import { compareRpm } from "./rpm";
import { table } from "./lookup";

/** The ecosystems with ordering rules of their own; anything else is compared with the generic rule. */
export type Ecosystem = "npm" | "maven" | "pypi" | "deb" | "rpm" | "apk" | "golang" | "cargo" | "generic";

const ALIASES: Record<string, Ecosystem> = table({
  npm: "npm",
  node: "npm",
  javascript: "npm",
  yarn: "npm",
  pnpm: "npm",
  maven: "maven",
  java: "maven",
  jar: "maven",
  gradle: "maven",
  pypi: "pypi",
  pip: "pypi",
  python: "pypi",
  deb: "deb",
  debian: "deb",
  ubuntu: "deb",
  dpkg: "deb",
  rpm: "rpm",
  redhat: "rpm",
  centos: "rpm",
  rocky: "rpm",
  alma: "rpm",
  almalinux: "rpm",
  amazon: "rpm",
  fedora: "rpm",
  oracle: "rpm",
  suse: "rpm",
  opensuse: "rpm",
  photon: "rpm",
  "cbl-mariner": "rpm",
  azurelinux: "rpm",
  apk: "apk",
  alpine: "apk",
  wolfi: "apk",
  chainguard: "apk",
  golang: "golang",
  go: "golang",
  cargo: "cargo",
  "crates.io": "cargo",
  rust: "cargo",
});

/** A purl type, scanner package type or distro name → the ecosystem whose rules apply ("generic" if none). */
export function normalizeEcosystem(ecosystem: string | null | undefined): Ecosystem {
  return (ecosystem && ALIASES[ecosystem.trim().toLowerCase()]) || "generic";
}

/** Longer than any version seen in an ecosystem (Debian's longest are under 100 characters). */
export const MAX_VERSION_CHARS = 256;

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareSemver(a: string, b: string): number | undefined {
  const x = semver.parse(a, { loose: true }) ?? semver.coerce(a, { includePrerelease: true });
  const y = semver.parse(b, { loose: true }) ?? semver.coerce(b, { includePrerelease: true });
  if (!x || !y) return undefined;
  return x.compare(y);
}

function comparePep440(a: string, b: string): number | undefined {
  if (!pep440.valid(a) || !pep440.valid(b)) return undefined;
  return pep440.compare(a, b);
}

/**
 * Orders two versions by the rules of an ecosystem: negative if a < b, 0 if equal, positive if a > b.
 * npm, golang and cargo use semver (loose; a partial version such as 4.17 counts as 4.17.0), pypi PEP 440,
 * maven Maven's ComparableVersion, deb dpkg, rpm rpmvercmp, apk apk-tools. A version the ecosystem's rules cannot
 * parse is compared with the generic rule rather than refused, so one odd version does not break a search.
 */
export function compareVersions(ecosystem: string, a: string, b: string): number {
  if (a === b) return 0;
  // Versions come from uploaded SBOMs and scans. No real version is this long; past the cap the ecosystem rules
  // (recursive for Maven, super-linear for some shapes in others) are not run, and a plain string order keeps the
  // comparison total, linear and crash-free.
  if (a.length > MAX_VERSION_CHARS || b.length > MAX_VERSION_CHARS) return a < b ? -1 : 1;
  const eco = normalizeEcosystem(ecosystem);
  switch (eco) {
    case "npm":
    case "cargo":
      return sign(compareSemver(a, b) ?? compareGeneric(a, b));
    case "golang":
      // Go module versions are semver with a "v"; "+incompatible" is build metadata and does not order.
      return sign(compareSemver(a.replace(/^v/, ""), b.replace(/^v/, "")) ?? compareGeneric(a, b));
    case "pypi":
      return sign(comparePep440(a, b) ?? compareGeneric(a, b));
    case "maven":
      return compareMaven(a, b);
    case "deb":
      return compareDebian(a, b);
    case "rpm":
      return compareRpm(a, b);
    case "apk":
      return compareApk(a, b);
    case "generic":
      return compareGeneric(a, b);
    default: {
      const never: never = eco;
      throw new Error(`unknown ecosystem ${String(never)}`);
    }
  }
}

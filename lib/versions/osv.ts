import { compareVersions, type Ecosystem } from "./compare";
import { table } from "./lookup";

/**
 * OSV affected ranges (https://ossf.github.io/osv-schema/#affectedranges-field), evaluated with each ecosystem's
 * own version order. Framework-free: plain data in, a verdict out.
 */

export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  type: "ECOSYSTEM" | "SEMVER" | "GIT";
  events: readonly OsvEvent[];
}

/**
 * OSV ecosystem names (the part before ":", e.g. "Debian:11" → "Debian") whose version order we implement.
 * Anything else (RubyGems, NuGet, Packagist, GIT, OSS-Fuzz, …) is not matched: a wrong order would invent or
 * hide findings, so such records are counted as skipped instead.
 */
const OSV_ECOSYSTEMS: Record<string, Ecosystem> = table({
  npm: "npm",
  maven: "maven",
  pypi: "pypi",
  go: "golang",
  "crates.io": "cargo",
  debian: "deb",
  ubuntu: "deb",
  alpine: "apk",
  wolfi: "apk",
  chainguard: "apk",
  "red hat": "rpm",
  "rocky linux": "rpm",
  almalinux: "rpm",
  suse: "rpm",
  opensuse: "rpm",
  "photon os": "rpm",
  mageia: "rpm",
  "azure linux": "rpm",
  "oracle linux": "rpm",
  "amazon linux": "rpm",
  openeuler: "rpm",
});

/** "Debian:11" → { ecosystem: "deb", release: "11" }; undefined when the ecosystem's order is not known. */
export function osvEcosystem(name: string): { ecosystem: Ecosystem; base: string; release: string | null } | undefined {
  const colon = name.indexOf(":");
  const base = (colon >= 0 ? name.slice(0, colon) : name).trim();
  const release = colon >= 0 ? name.slice(colon + 1).trim() || null : null;
  // "SUSE:Linux Enterprise Server 15" and "openSUSE:Leap 15.5" carry the product after the colon.
  const eco = OSV_ECOSYSTEMS[base.toLowerCase()];
  return eco ? { ecosystem: eco, base, release } : undefined;
}

const isZero = (v: string) => v === "0";

/**
 * Whether `version` falls in one OSV range. The events are sorted by the ecosystem's order ("0" first) and walked:
 * an `introduced` at or below the version opens the range, a `fixed` at or below it closes it, a `last_affected`
 * below it closes it. `limit` events, when present, cap the range: the version must be below one of them.
 * GIT ranges name commits, not versions, and are never matched here.
 */
export function inOsvRange(ecosystem: Ecosystem, version: string, range: OsvRange): boolean {
  if (range.type === "GIT") return false;
  // SEMVER ranges are ordered as semver whatever the package's ecosystem (OSV says so).
  const eco: Ecosystem = range.type === "SEMVER" ? "npm" : ecosystem;
  const cmp = (a: string, b: string) => (isZero(a) ? (isZero(b) ? 0 : -1) : isZero(b) ? 1 : compareVersions(eco, a, b));
  const v = range.type === "SEMVER" ? version.replace(/^v/, "") : version;
  const limits = range.events.map((e) => e.limit).filter((l): l is string => l !== undefined);
  if (limits.length && !limits.some((l) => l === "*" || cmp(v, range.type === "SEMVER" ? l.replace(/^v/, "") : l) < 0)) return false;
  const keyed = range.events
    .map((e) => {
      const [kind, at] =
        e.introduced !== undefined
          ? (["introduced", e.introduced] as const)
          : e.fixed !== undefined
            ? (["fixed", e.fixed] as const)
            : e.last_affected !== undefined
              ? (["last_affected", e.last_affected] as const)
              : ([null, ""] as const);
      return kind ? { kind, at: range.type === "SEMVER" && !isZero(at) ? at.replace(/^v/, "") : at } : null;
    })
    .filter((e): e is { kind: "introduced" | "fixed" | "last_affected"; at: string } => e !== null)
    // Equal versions: a fix or last_affected sorts after the introduction it closes.
    .sort((a, b) => cmp(a.at, b.at) || (a.kind === "introduced" ? -1 : 0) - (b.kind === "introduced" ? -1 : 0));
  let affected = false;
  for (const e of keyed) {
    if (e.kind === "introduced") {
      if (isZero(e.at) || cmp(v, e.at) >= 0) affected = true;
    } else if (e.kind === "fixed") {
      if (cmp(v, e.at) >= 0) affected = false;
    } else if (cmp(v, e.at) > 0) affected = false;
  }
  return affected;
}

/** Whether `version` is affected: listed in `versions`, or in any range. */
export function isAffected(ecosystem: Ecosystem, version: string, ranges: readonly OsvRange[], versions: readonly string[]): boolean {
  if (versions.includes(version)) return true;
  return ranges.some((r) => inOsvRange(ecosystem, version, r));
}

/** The first `fixed` at or above the version in the range that affects it, for the finding's "fixed in". */
export function fixedVersionFor(ecosystem: Ecosystem, version: string, ranges: readonly OsvRange[]): string | undefined {
  for (const r of ranges) {
    if (r.type === "GIT" || !inOsvRange(ecosystem, version, r)) continue;
    const eco: Ecosystem = r.type === "SEMVER" ? "npm" : ecosystem;
    const fixes = r.events.map((e) => e.fixed).filter((f): f is string => f !== undefined && compareVersions(eco, f, version) > 0);
    fixes.sort((a, b) => compareVersions(eco, a, b));
    if (fixes[0]) return fixes[0];
  }
  return undefined;
}

/**
 * OSV advisories (https://ossf.github.io/osv-schema/, schema 1.x): parsed at the edge into a normalized record,
 * and the package key both advisories and SBOM components are matched on. Framework-free.
 */
import { PackageURL } from "packageurl-js";
import { z } from "zod";
import { normalizeEcosystem, type Ecosystem } from "../versions/compare";
import { osvEcosystem, type OsvRange } from "../versions/osv";
import { formatPath } from "./errors";
import { normalizeSeverity, severityFromScore, type Severity } from "./model";

const MAX_TEXT = 4096;
// Refuse NUL and C0 control characters (other than tab/newline/CR in free text) in anything we store or show.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const safe = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !CONTROL.test(s), "contains control characters");
const id = safe(200).regex(/^[A-Za-z0-9][A-Za-z0-9._:+-]*$/, "is not an OSV id (letters, digits, . _ : + -)");
const isoDate = safe(64).refine((s) => !Number.isNaN(Date.parse(s)), "is not an RFC 3339 time");
const version = safe(256).min(1);

const event = z
  .object({ introduced: version.optional(), fixed: version.optional(), last_affected: version.optional(), limit: version.optional() })
  .refine(
    (e) => [e.introduced, e.fixed, e.last_affected, e.limit].filter((x) => x !== undefined).length === 1,
    "each event has exactly one of introduced, fixed, last_affected, limit",
  );

const range = z.object({
  type: z.enum(["ECOSYSTEM", "SEMVER", "GIT"]),
  repo: safe(2048).optional(),
  events: z.array(event).min(1).max(1000),
});

const affected = z.object({
  package: z
    .object({
      ecosystem: safe(200).min(1),
      name: safe(1000).min(1),
      purl: safe(2048).optional(),
    })
    .optional(),
  ranges: z.array(range).max(100).optional(),
  versions: z.array(version).max(20_000).optional(),
  ecosystem_specific: z.record(z.string(), z.unknown()).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
  severity: z
    .array(z.object({ type: safe(64), score: safe(512) }))
    .max(20)
    .optional(),
});

export const osvRecordSchema = z.object({
  schema_version: safe(32).optional(),
  id,
  modified: isoDate,
  published: isoDate.optional(),
  withdrawn: isoDate.optional(),
  aliases: z.array(id).max(200).optional(),
  related: z.array(safe(200)).max(1000).optional(),
  summary: safe(MAX_TEXT).optional(),
  details: safe(1_000_000).optional(),
  severity: z
    .array(z.object({ type: safe(64), score: safe(512) }))
    .max(20)
    .optional(),
  affected: z.array(affected).max(10_000).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
});

export interface OsvAffected {
  /** The OSV ecosystem as written ("Debian:11"). */
  osvEcosystem: string;
  ecosystem: Ecosystem;
  /** The distribution release for distro ecosystems ("11", "v3.18"), else null. */
  release: string | null;
  name: string;
  /** The match key (see packageKey). */
  key: string;
  ranges: OsvRange[];
  versions: string[];
}

export interface OsvAdvisory {
  id: string;
  aliases: string[];
  summary: string | null;
  severity: Severity;
  cvss: { score: number; vector: string } | null;
  modified: Date;
  published: Date | null;
  withdrawn: Date | null;
  /** Affected packages in ecosystems whose version order is known. */
  affected: OsvAffected[];
  /** OSV ecosystems named by the record that cannot be matched (no known version order). */
  unknownEcosystems: string[];
}

export class OsvError extends Error {
  constructor(
    message: string,
    readonly issues: string[] = [],
  ) {
    super(message);
    this.name = "OsvError";
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CVSS v3.x base score (FIRST specification, section 7.1), for records that give only a vector.

const W = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

function roundUp(x: number): number {
  const i = Math.round(x * 100_000);
  return i % 10_000 === 0 ? i / 100_000 : (Math.floor(i / 10_000) + 1) / 10;
}

/** The base score of a CVSS:3.0/3.1 vector, or undefined when it is not one. */
export function cvss3BaseScore(vector: string): number | undefined {
  const m = /^CVSS:3\.[01]\/(.+)$/.exec(vector);
  if (!m) return undefined;
  const parts = new Map<string, string>();
  for (const p of m[1]!.split("/")) {
    const [k, v] = p.split(":");
    if (!k || !v || parts.has(k)) return undefined;
    parts.set(k, v);
  }
  const g = (k: string) => parts.get(k) ?? "";
  const av = W.AV[g("AV") as keyof typeof W.AV];
  const ac = W.AC[g("AC") as keyof typeof W.AC];
  const ui = W.UI[g("UI") as keyof typeof W.UI];
  const s = g("S");
  const c = W.CIA[g("C") as keyof typeof W.CIA];
  const i = W.CIA[g("I") as keyof typeof W.CIA];
  const a = W.CIA[g("A") as keyof typeof W.CIA];
  const prRaw = g("PR");
  if ([av, ac, ui, c, i, a].some((x) => x === undefined) || (s !== "U" && s !== "C") || !["N", "L", "H"].includes(prRaw)) return undefined;
  const pr = prRaw === "N" ? 0.85 : prRaw === "L" ? (s === "C" ? 0.68 : 0.62) : s === "C" ? 0.5 : 0.27;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = s === "U" ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * Math.pow(iss - 0.02, 15);
  const expl = 8.22 * av! * ac! * pr * ui!;
  if (impact <= 0) return 0;
  return s === "U" ? roundUp(Math.min(impact + expl, 10)) : roundUp(Math.min(1.08 * (impact + expl), 10));
}

// ---------------------------------------------------------------------------------------------------------------

/** PEP 503 name normalization. */
const pep503 = (n: string) => n.toLowerCase().replace(/[-_.]+/g, "-");

/**
 * The key an OSV package and an SBOM component are matched on: `<ecosystem>|<name>`, with the name as the
 * ecosystem writes it in OSV (Maven `group:artifact`, npm `@scope/name`, Go module path, PyPI normalized, distro
 * packages by name), lower-cased.
 */
export function packageKey(ecosystem: Ecosystem, name: string): string {
  const n = ecosystem === "pypi" ? pep503(name) : name.toLowerCase();
  return `${ecosystem}|${n}`;
}

/** "openssl" from `upstream=openssl@1.1.1n-0`, or, for rpm, from `sourcerpm=openssl-1.1.1k-7.el8.src.rpm`: the source package's name. */
function sourceName(ecosystem: Ecosystem, q: Record<string, string>): string | null {
  const upstream = q.upstream ?? q.sourcerpm ?? q.origin;
  if (!upstream) return null;
  return (ecosystem === "rpm" ? upstream.replace(/-[^-]+-[^-]+\.src\.rpm$/, "") : upstream.split(/[@ ]/)[0]!) || null;
}

/**
 * The lower-cased source package name a distro binary package's purl names (`libssl3` → `openssl`), or null: what
 * a Debian, Alpine or Red Hat advisory names. The same name componentKeys adds as a key.
 */
export function sourcePackageName(purl: string | null): string | null {
  if (!purl?.startsWith("pkg:")) return null;
  let p: PackageURL;
  try {
    p = PackageURL.fromString(purl);
  } catch {
    return null;
  }
  const type = p.type.toLowerCase();
  const ecosystem = normalizeEcosystem(type === "alpine" ? "apk" : type);
  if (ecosystem !== "deb" && ecosystem !== "rpm" && ecosystem !== "apk") return null;
  return sourceName(ecosystem, p.qualifiers ?? {})?.toLowerCase() ?? null;
}

export interface ComponentLike {
  name: string;
  purl: string | null;
  ecosystem: string | null;
}

/**
 * The match keys of an SBOM component (usually one; a distro binary package also matches its source package,
 * which is what Debian and Red Hat advisories name), and the distro qualifier of its purl, if any.
 */
export function componentKeys(c: ComponentLike): { keys: string[]; ecosystem: Ecosystem; distro: string | null } {
  let p: PackageURL | undefined;
  if (c.purl?.startsWith("pkg:")) {
    try {
      p = PackageURL.fromString(c.purl);
    } catch {
      p = undefined;
    }
  }
  const type = p?.type.toLowerCase();
  const ecosystem = normalizeEcosystem(type === "alpine" ? "apk" : (type ?? c.ecosystem));
  const keys = new Set<string>();
  let distro: string | null = null;
  if (p) {
    const ns = p.namespace ?? "";
    switch (ecosystem) {
      case "maven":
        if (ns) keys.add(packageKey(ecosystem, `${ns}:${p.name}`));
        break;
      case "npm":
      case "golang":
        keys.add(packageKey(ecosystem, ns ? `${ns}/${p.name}` : p.name));
        break;
      case "deb":
      case "rpm":
      case "apk": {
        keys.add(packageKey(ecosystem, p.name));
        const q = p.qualifiers ?? {};
        const source = sourceName(ecosystem, q);
        if (source) keys.add(packageKey(ecosystem, source));
        distro = q.distro ?? null;
        break;
      }
      default:
        keys.add(packageKey(ecosystem, p.name));
    }
  } else if (ecosystem !== "generic" && ecosystem !== "maven") {
    // Without a purl there is no Maven group, so a bare artifact name is not matched (it could be anyone's).
    keys.add(packageKey(ecosystem, c.name));
  }
  return { keys: [...keys], ecosystem, distro };
}

/** "Debian:11" against purl qualifier distro=debian-11 / bookworm; "Alpine:v3.18" against distro=3.18.4. */
export function releaseMatches(release: string | null, distro: string | null): boolean {
  if (!release || !distro) return true;
  const r = release.toLowerCase().replace(/^v/, "");
  const d = distro.toLowerCase();
  if (!/^\d+(\.\d+)*$/.test(r)) return true; // "Linux Enterprise Server 15", codenames: not comparable here
  const nums = d.match(/\d+(\.\d+)*/g) ?? [];
  if (!nums.length) return true;
  return nums.some((n) => n === r || n.startsWith(`${r}.`));
}

function severityOf(r: z.infer<typeof osvRecordSchema>): { severity: Severity; cvss: OsvAdvisory["cvss"] } {
  let cvss: OsvAdvisory["cvss"] = null;
  const vectors = [...(r.severity ?? []), ...(r.affected ?? []).flatMap((a) => a.severity ?? [])];
  for (const s of vectors) {
    if (!/^CVSS_V3/.test(s.type)) continue;
    const score = cvss3BaseScore(s.score);
    if (score !== undefined && (!cvss || score > cvss.score)) cvss = { score, vector: s.score };
  }
  // The database's own word (GitHub, Debian, Ubuntu) first, then the CVSS score.
  const stated = [r.database_specific?.severity, ...(r.affected ?? []).flatMap((a) => [a.database_specific?.severity, a.ecosystem_specific?.severity])]
    .filter((s): s is string => typeof s === "string")
    .map((s) => normalizeSeverity(s === "moderate" || s === "MODERATE" ? "medium" : s))
    .find((s) => s !== "unknown");
  return { severity: stated ?? (cvss ? severityFromScore(cvss.score) : "unknown"), cvss };
}

/** Validates one OSV record; throws OsvError listing every bad field (prefixed with `where`). */
export function parseOsvRecord(input: unknown, where = ""): OsvAdvisory {
  const r = osvRecordSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 20).map((i) => `${where}${formatPath(i.path) || "(record)"}: ${i.message}`);
    const rid = typeof (input as { id?: unknown })?.id === "string" ? ` ${String((input as { id: string }).id).slice(0, 100)}` : "";
    throw new OsvError(`malformed OSV record${rid}: ${issues.join("; ")}`, issues);
  }
  const rec = r.data;
  const affectedOut: OsvAffected[] = [];
  const unknown = new Set<string>();
  for (const a of rec.affected ?? []) {
    if (!a.package) continue;
    const eco = osvEcosystem(a.package.ecosystem);
    if (!eco) {
      unknown.add(a.package.ecosystem);
      continue;
    }
    affectedOut.push({
      osvEcosystem: a.package.ecosystem,
      ecosystem: eco.ecosystem,
      release: eco.release,
      name: a.package.name,
      key: packageKey(eco.ecosystem, a.package.name),
      ranges: (a.ranges ?? []).map((x) => ({ type: x.type, events: x.events })),
      versions: a.versions ?? [],
    });
  }
  const { severity, cvss } = severityOf(rec);
  return {
    id: rec.id,
    aliases: [...new Set((rec.aliases ?? []).filter((x) => x !== rec.id))],
    summary: rec.summary ?? null,
    severity,
    cvss,
    modified: new Date(rec.modified),
    published: rec.published ? new Date(rec.published) : null,
    withdrawn: rec.withdrawn ? new Date(rec.withdrawn) : null,
    affected: affectedOut,
    unknownEcosystems: [...unknown],
  };
}

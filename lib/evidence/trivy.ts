import { z } from "zod";
import { EvidenceError, parseWith } from "./errors";
import type { Component, Cvss, Finding, FindingStatus, ParsedEvidence, Subject } from "./model";
import { ecosystemFromPackageType, ecosystemFromPurl, normalizeDigest, normalizeSeverity } from "./model";
import { addSubject, betterCvss, cvss, labelOf, opt, optNum, optStr, repoDigestSubject, strArray, uniq, type ParseContext } from "./util";
import { table } from "./lookup";

// Trivy JSON (`trivy image -f json`, SchemaVersion 2). Every field is omitempty in Trivy's encoder.

const layer = z.object({ Digest: optStr, DiffID: optStr }).nullish();
const identifier = z.object({ PURL: optStr }).nullish();

const cvssEntry = z.object({
  V2Vector: optStr,
  V3Vector: optStr,
  V40Vector: optStr,
  V2Score: optNum,
  V3Score: optNum,
  V40Score: optNum,
});

const vulnerability = z.object({
  VulnerabilityID: z.string(),
  VendorIDs: strArray,
  PkgName: z.string(),
  PkgPath: optStr,
  PkgIdentifier: identifier,
  // Trivy ≤ 0.3x carried the purl in `Ref`.
  Ref: optStr,
  InstalledVersion: optStr,
  FixedVersion: optStr,
  Status: optStr,
  Layer: layer,
  SeveritySource: optStr,
  PrimaryURL: optStr,
  Title: optStr,
  Severity: optStr,
  CVSS: z.record(z.string(), cvssEntry).nullish(),
  References: strArray,
});

const pkg = z.object({
  Name: z.string(),
  Version: optStr,
  Release: optStr,
  Epoch: optNum,
  Licenses: strArray,
  Layer: layer,
  Identifier: identifier,
});

const result = z.object({
  Target: optStr,
  Class: optStr,
  Type: optStr,
  Packages: z.array(pkg).nullish(),
  Vulnerabilities: z.array(vulnerability).nullish(),
});

const report = z.object({
  SchemaVersion: z.number(),
  CreatedAt: optStr,
  ArtifactName: optStr,
  ArtifactType: optStr,
  Trivy: z.object({ Version: optStr }).nullish(),
  Metadata: z.object({ ImageID: optStr, RepoDigests: strArray, RepoTags: strArray }).nullish(),
  Results: z.array(result).nullish(),
});

export function looksLikeTrivy(v: Record<string, unknown>): boolean {
  return typeof v.SchemaVersion === "number" && ("Results" in v || "ArtifactName" in v || "Metadata" in v || "ArtifactType" in v);
}

/** Trivy ≤ 0.19 wrote a bare array of results. */
export function looksLikeLegacyTrivy(v: unknown[]): boolean {
  return v.length > 0 && v.every((r) => r !== null && typeof r === "object" && !Array.isArray(r) && "Target" in r);
}

// Trivy's Status: "fixed" means a fix exists for a vulnerable package, so the package is still affected.
const STATUS: Record<string, FindingStatus> = table({
  fixed: "affected",
  affected: "affected",
  will_not_fix: "affected",
  fix_deferred: "affected",
  end_of_life: "affected",
  not_affected: "not_affected",
  under_investigation: "under_investigation",
  unknown: "unknown",
});

function pickCvss(entries: Record<string, z.infer<typeof cvssEntry>> | null | undefined, preferred: string | null | undefined): Cvss | undefined {
  if (!entries) return undefined;
  const order = uniq([preferred, "nvd", ...Object.keys(entries)].filter((s): s is string => Boolean(s)));
  for (const source of order) {
    const e = entries[source];
    if (!e) continue;
    const best = betterCvss(betterCvss(cvss(e.V2Score, e.V2Vector, "2.0"), cvss(e.V3Score, e.V3Vector, "3.0")), cvss(e.V40Score, e.V40Vector, "4.0"));
    if (best) return best;
  }
  return undefined;
}

function fullVersion(p: z.infer<typeof pkg>): string | undefined {
  if (!p.Version) return undefined;
  const base = p.Release ? `${p.Version}-${p.Release}` : p.Version;
  return p.Epoch ? `${p.Epoch}:${base}` : base;
}

export function parseTrivy(input: unknown, ctx: ParseContext): ParsedEvidence {
  const label = labelOf(ctx, "Trivy");
  const r: Pick<z.infer<typeof report>, "SchemaVersion" | "Results"> & Partial<z.infer<typeof report>> = Array.isArray(input)
    ? { SchemaVersion: 2, Results: parseWith(label, z.array(result), input, ctx.prefix) }
    : parseWith(label, report, input, ctx.prefix);
  if (r.SchemaVersion !== 2) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: SchemaVersion ${r.SchemaVersion} is not supported (SchemaVersion 2 is)`, ["SchemaVersion"]);
  }

  const components: Component[] = [];
  const findings: Finding[] = [];
  // A report with no Results is a clean scan (Trivy omits empty arrays), not an error.
  for (const res of r.Results ?? []) {
    const typeEco = ecosystemFromPackageType(res.Type ?? undefined);
    for (const p of res.Packages ?? []) {
      const purl = p.Identifier?.PURL ?? undefined;
      components.push({
        name: p.Name,
        ...opt("version", fullVersion(p)),
        ...opt("purl", purl),
        ...opt("type", res.Class),
        licenses: uniq(p.Licenses ?? []),
        ...opt("layer", p.Layer?.Digest || p.Layer?.DiffID),
        ...opt("ecosystem", ecosystemFromPurl(purl) ?? typeEco),
      });
    }
    for (const v of res.Vulnerabilities ?? []) {
      const purl = v.PkgIdentifier?.PURL ?? v.Ref ?? undefined;
      const raw = v.Status?.toLowerCase();
      const status = raw ? (STATUS[raw] ?? "unknown") : "affected";
      const urls = uniq([v.PrimaryURL, ...(v.References ?? [])].filter((u): u is string => Boolean(u)));
      const c = pickCvss(v.CVSS, v.SeveritySource);
      findings.push({
        id: v.VulnerabilityID,
        aliases: uniq((v.VendorIDs ?? []).filter((a) => a && a !== v.VulnerabilityID)),
        severity: normalizeSeverity(v.Severity),
        ...(c ? { cvss: c } : {}),
        package: v.PkgName,
        ...opt("purl", purl),
        ...opt("installedVersion", v.InstalledVersion),
        ...opt("fixedVersion", v.FixedVersion),
        fixAvailable: Boolean(v.FixedVersion),
        status,
        // "fixed" and "affected" are the ordinary cases; the others (will_not_fix, end_of_life, …) are worth showing.
        ...opt("statusDetail", raw && raw !== "affected" && raw !== "fixed" ? `trivy: ${v.Status}` : undefined),
        source: "trivy",
        ...opt("title", v.Title),
        ...(urls.length ? { urls } : {}),
      });
    }
  }

  const subjects: Subject[] = [];
  const imageId = normalizeDigest(r.Metadata?.ImageID);
  // Trivy's ImageID is the image config digest; RepoDigests are the manifest digests the image was pulled by.
  if (imageId) addSubject(subjects, { digest: imageId, ...opt("name", r.ArtifactName), kind: "config" });
  for (const rd of r.Metadata?.RepoDigests ?? []) {
    const s = repoDigestSubject(rd);
    if (s) addSubject(subjects, s);
  }

  return {
    format: "trivy",
    kind: "scan",
    components,
    findings,
    ...opt("scannedAt", r.CreatedAt),
    tool: { name: "trivy", ...opt("version", r.Trivy?.Version) },
    subjects,
  };
}

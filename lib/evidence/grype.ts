import { z } from "zod";
import { parseWith } from "./errors";
import type { Cvss, Finding, FindingStatus, ParsedEvidence, Severity, Subject } from "./model";
import { normalizeDigest, normalizeSeverity } from "./model";
import { addSubject, betterCvss, cvss, labelOf, opt, optNum, optStr, repoDigestSubject, strArray, uniq, type ParseContext } from "./util";
import { table } from "./lookup";

// Grype JSON (`grype -o json`). Two shapes are in the wild: the current one (`cvss[]`, `fix{versions,state}`,
// `urls`, `relatedVulnerabilities`, `matchDetails[]`) and the 2021 one (`cvssV2`/`cvssV3`, `fixedInVersion`,
// `links`, `matchDetails` as an object, CPEs as structs). Only the fields read here are validated.

const cvssItem = z.object({
  version: optStr,
  vector: optStr,
  metrics: z.object({ baseScore: optNum }).nullish(),
});
const cvssLegacy = z.object({ baseScore: optNum, vector: optStr }).nullish();

const vulnerability = z.object({
  id: z.string(),
  severity: optStr,
  dataSource: optStr,
  urls: strArray,
  links: strArray,
  cvss: z.array(cvssItem).nullish(),
  cvssV2: cvssLegacy,
  cvssV3: cvssLegacy,
  fix: z.object({ versions: strArray, state: optStr }).nullish(),
  fixedInVersion: optStr,
});

const related = z.object({
  id: z.string(),
  severity: optStr,
  dataSource: optStr,
  urls: strArray,
  cvss: z.array(cvssItem).nullish(),
});

const artifact = z.object({
  name: z.string(),
  version: optStr,
  type: optStr,
  purl: optStr,
});

const match = z.object({
  vulnerability,
  relatedVulnerabilities: z.array(related).nullish(),
  artifact,
  appliedIgnoreRules: z.array(z.object({ "vex-status": optStr, "vex-justification": optStr, reason: optStr })).nullish(),
});

const imageTarget = z.object({
  userInput: optStr,
  imageID: optStr,
  manifestDigest: optStr,
  repoDigests: strArray,
});

const doc = z.object({
  matches: z.array(match),
  ignoredMatches: z.array(match).nullish(),
  source: z.object({ type: optStr, target: z.unknown().optional() }).nullish(),
  descriptor: z.object({ name: optStr, version: optStr, timestamp: optStr }).nullish(),
});

export function looksLikeGrype(v: Record<string, unknown>): boolean {
  if (!Array.isArray(v.matches)) return false;
  if ("descriptor" in v || "source" in v || "distro" in v) return true;
  const first = v.matches[0] as Record<string, unknown> | undefined;
  return Boolean(first && typeof first === "object" && "vulnerability" in first && "artifact" in first);
}

function cvssFrom(list: z.infer<typeof cvssItem>[] | null | undefined): Cvss | undefined {
  let best: Cvss | undefined;
  for (const c of list ?? []) best = betterCvss(best, cvss(c.metrics?.baseScore, c.vector, c.version ?? undefined));
  return best;
}

const VEX_STATUS: Record<string, FindingStatus> = table({
  not_affected: "not_affected",
  fixed: "fixed",
  affected: "affected",
  under_investigation: "under_investigation",
});

function toFinding(m: z.infer<typeof match>, source: string, ignored: boolean): Finding {
  const v = m.vulnerability;
  const rel = m.relatedVulnerabilities ?? [];
  let severity: Severity = normalizeSeverity(v.severity);
  // Grype's primary record (e.g. a GHSA) sometimes has no severity while its related NVD record does.
  if (severity === "unknown") severity = rel.map((r) => normalizeSeverity(r.severity)).find((s) => s !== "unknown") ?? "unknown";
  let c = betterCvss(betterCvss(cvssFrom(v.cvss), cvss(v.cvssV2?.baseScore, v.cvssV2?.vector, "2.0")), cvss(v.cvssV3?.baseScore, v.cvssV3?.vector, "3.0"));
  if (!c) for (const r of rel) c = betterCvss(c, cvssFrom(r.cvss));

  const fixVersions = (v.fix?.versions ?? []).filter(Boolean);
  const fixedVersion = fixVersions.length ? fixVersions.join(", ") : (v.fixedInVersion ?? undefined);
  const state = v.fix?.state ?? undefined;

  let status: FindingStatus = "affected";
  let statusDetail: string | undefined = state && state !== "fixed" ? `grype: fix ${state}` : undefined;
  if (ignored) {
    // An ignored match is one a rule suppressed; only a VEX-backed rule says why.
    const rule = m.appliedIgnoreRules?.find((r) => r["vex-status"]);
    status = rule?.["vex-status"] ? (VEX_STATUS[rule["vex-status"]] ?? "unknown") : "unknown";
    statusDetail = rule?.["vex-justification"] ?? rule?.reason ?? "ignored by a grype rule";
  }

  const urls = uniq([...(v.urls ?? []), ...(v.links ?? []), ...(v.dataSource ? [v.dataSource] : [])]);
  return {
    id: v.id,
    aliases: uniq(rel.map((r) => r.id).filter((id) => id && id !== v.id)),
    severity,
    ...(c ? { cvss: c } : {}),
    package: m.artifact.name,
    ...opt("purl", m.artifact.purl),
    ...opt("installedVersion", m.artifact.version),
    ...opt("fixedVersion", fixedVersion),
    fixAvailable: Boolean(fixedVersion) && state !== "wont-fix" && state !== "not-fixed",
    status,
    ...opt("statusDetail", statusDetail),
    source,
    ...(urls.length ? { urls } : {}),
  };
}

export function parseGrype(input: unknown, ctx: ParseContext): ParsedEvidence {
  const d = parseWith(labelOf(ctx, "Grype"), doc, input, ctx.prefix);
  const source = d.descriptor?.name || "grype";
  const findings = d.matches.map((m) => toFinding(m, source, false));
  for (const m of d.ignoredMatches ?? []) findings.push(toFinding(m, source, true));

  const subjects: Subject[] = [];
  if (d.source?.type === "image") {
    const t = imageTarget.safeParse(d.source.target);
    if (t.success) {
      const name = t.data.userInput ?? undefined;
      const manifest = normalizeDigest(t.data.manifestDigest);
      if (manifest) addSubject(subjects, { digest: manifest, ...opt("name", name), kind: "manifest" });
      const config = normalizeDigest(t.data.imageID);
      if (config) addSubject(subjects, { digest: config, ...opt("name", name), kind: "config" });
      for (const rd of t.data.repoDigests ?? []) {
        const s = repoDigestSubject(rd);
        if (s) addSubject(subjects, s);
      }
    }
  }

  return {
    format: "grype",
    kind: "scan",
    components: [],
    findings,
    ...opt("scannedAt", d.descriptor?.timestamp),
    tool: { name: source, ...opt("version", d.descriptor?.version) },
    subjects,
  };
}

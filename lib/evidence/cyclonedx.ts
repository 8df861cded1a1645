import { PackageURL } from "packageurl-js";
import { z } from "zod";
import { describeIssues, EvidenceError, invalidDocument, runSync, STEP, validateList, type Steps } from "./errors";
import type { Component, Cvss, Finding, FindingStatus, ParsedEvidence, Severity, Subject } from "./model";
import { ecosystemFromPackageType, ecosystemFromPurl, normalizeDigest, normalizeSeverity, severityFromScore, severityRank } from "./model";
import { addSubject, betterCvss, cvss, labelOf, opt, optNum, optStr, ociPurlDigest, repoDigestSubject, uniq, type ParseContext } from "./util";
import { table } from "./lookup";

// CycloneDX JSON 1.2–1.6: components (SBOM) and vulnerabilities (scan results, VEX).

const license = z.object({
  license: z.object({ id: optStr, name: optStr }).nullish(),
  expression: optStr,
});

const property = z.object({ name: optStr, value: optStr });

export interface CdxComponent {
  type?: string | null | undefined;
  "bom-ref"?: string | null | undefined;
  name: string;
  version?: string | null | undefined;
  purl?: string | null | undefined;
  licenses?: z.infer<typeof license>[] | null | undefined;
  properties?: z.infer<typeof property>[] | null | undefined;
  components?: CdxComponent[] | null | undefined;
}

export const component: z.ZodType<CdxComponent> = z.object({
  type: optStr,
  "bom-ref": optStr,
  name: z.string(),
  version: optStr,
  purl: optStr,
  licenses: z.array(license).nullish(),
  properties: z.array(property).nullish(),
  // Assemblies: components may nest.
  get components() {
    return z.array(component).nullish();
  },
});

const rating = z.object({
  source: z.object({ name: optStr }).nullish(),
  score: optNum,
  severity: optStr,
  method: optStr,
  vector: optStr,
});

export const vulnerability = z.object({
  id: z.string(),
  "bom-ref": optStr,
  source: z.object({ name: optStr, url: optStr }).nullish(),
  references: z.array(z.object({ id: optStr })).nullish(),
  ratings: z.array(rating).nullish(),
  description: optStr,
  recommendation: optStr,
  advisories: z.array(z.object({ url: optStr })).nullish(),
  analysis: z.object({ state: optStr, justification: optStr, response: z.array(z.string()).nullish(), detail: optStr }).nullish(),
  affects: z.array(z.object({ ref: z.string(), versions: z.array(z.object({ version: optStr, range: optStr, status: optStr })).nullish() })).nullish(),
});

const tool = z.object({ name: optStr, version: optStr, vendor: optStr });

export const bom = z.object({
  bomFormat: z.literal("CycloneDX"),
  specVersion: z.string(),
  serialNumber: optStr,
  metadata: z
    .object({
      timestamp: optStr,
      // 1.4 and before: an array of tools; 1.5+: { components: [...], services: [...] }.
      tools: z.union([z.array(tool), z.object({ components: z.array(tool).nullish(), services: z.array(tool).nullish() })]).nullish(),
      component: z.object({ "bom-ref": optStr, type: optStr, name: optStr, version: optStr, purl: optStr, properties: z.array(property).nullish() }).nullish(),
    })
    .nullish(),
  components: z.array(component).nullish(),
  vulnerabilities: z.array(vulnerability).nullish(),
});

// The BOM without its two large arrays, which are validated STEP elements at a time.
const bomShell = bom.extend({ components: z.array(z.unknown()).nullish(), vulnerabilities: z.array(z.unknown()).nullish() });

function* validateBom(input: unknown, ctx: ParseContext, label: string): Steps<z.infer<typeof bom>> {
  const shell = bomShell.safeParse(input);
  const issues = shell.success ? [] : describeIssues(shell.error.issues, input, ctx.prefix);
  const components =
    shell.success && shell.data.components ? yield* validateList(component, shell.data.components, [...ctx.prefix, "components"], issues) : undefined;
  const vulnerabilities =
    shell.success && shell.data.vulnerabilities
      ? yield* validateList(vulnerability, shell.data.vulnerabilities, [...ctx.prefix, "vulnerabilities"], issues)
      : undefined;
  if (issues.length || !shell.success) throw invalidDocument(label, issues);
  return {
    ...shell.data,
    components: components ?? (shell.data.components as null | undefined),
    vulnerabilities: vulnerabilities ?? (shell.data.vulnerabilities as null | undefined),
  };
}

export function looksLikeCycloneDx(v: Record<string, unknown>): boolean {
  return v.bomFormat === "CycloneDX";
}

function licensesOf(ls: z.infer<typeof license>[] | null | undefined): string[] {
  if (!ls?.length) return [];
  const out: string[] = [];
  for (const l of ls) {
    const s = l.license?.id || l.license?.name || l.expression;
    if (s && !out.includes(s)) out.push(s);
  }
  return out;
}

const LAYER_PROPS = ["aquasecurity:trivy:LayerDigest", "aquasecurity:trivy:LayerDiffID", "syft:location:0:layerID"];

function layerOf(props: z.infer<typeof property>[] | null | undefined): string | undefined {
  if (!props?.length) return undefined;
  for (const name of LAYER_PROPS) {
    const p = props.find((x) => x.name === name);
    if (p?.value) return p.value;
  }
  return undefined;
}

function packageTypeOf(props: z.infer<typeof property>[] | null | undefined): string | undefined {
  return props?.find((x) => x.name === "syft:package:type" || x.name === "aquasecurity:trivy:PkgType")?.value ?? undefined;
}

export function toComponent(c: CdxComponent): Component {
  const purl = c.purl ?? undefined;
  return {
    name: c.name,
    ...opt("version", c.version),
    ...opt("purl", purl),
    ...opt("type", c.type),
    licenses: licensesOf(c.licenses),
    ...opt("layer", layerOf(c.properties)),
    ...opt("ecosystem", ecosystemFromPurl(purl) ?? ecosystemFromPackageType(packageTypeOf(c.properties))),
  };
}

interface PurlParts {
  name: string;
  version?: string;
}

function purlParts(purl: string): PurlParts | undefined {
  try {
    const p = PackageURL.fromString(purl);
    let version = p.version ?? undefined;
    // rpm purls carry the epoch as a qualifier; scanners write it as "epoch:version-release".
    const epoch = p.qualifiers?.epoch;
    if (version && p.type === "rpm" && epoch && epoch !== "0" && !version.includes(":")) version = `${epoch}:${version}`;
    return { name: p.name, ...opt("version", version) };
  } catch {
    return undefined;
  }
}

/** The component an `affects[].ref` points to: a bom-ref in this BOM, a BOM-Link into another, or a purl. */
function resolveRef(ref: string, byRef: Map<string, CdxComponent>): { name: string; version?: string; purl?: string } {
  const local = byRef.get(ref);
  if (local) return { name: local.name, ...opt("version", local.version), ...opt("purl", local.purl) };
  let target = ref;
  // BOM-Link: urn:cdx:<serial>/<version>#<bom-ref, URL-encoded>
  const link = /^urn:cdx:[^/#]+\/\d+#(.+)$/s.exec(ref);
  if (link) {
    target = link[1]!;
    try {
      target = decodeURIComponent(target);
    } catch {
      // Trivy writes the fragment unencoded; a stray % is taken literally.
    }
    const linked = byRef.get(target);
    if (linked) return { name: linked.name, ...opt("version", linked.version), ...opt("purl", linked.purl) };
  }
  if (target.startsWith("pkg:")) {
    const p = purlParts(target);
    if (p) return { ...p, purl: target };
  }
  return { name: target };
}

const ANALYSIS_STATE: Record<string, FindingStatus> = table({
  resolved: "fixed",
  resolved_with_pedigree: "fixed",
  exploitable: "affected",
  in_triage: "under_investigation",
  false_positive: "false_positive",
  not_affected: "not_affected",
});

function severityOf(v: z.infer<typeof vulnerability>): Severity {
  const ratings = v.ratings ?? [];
  // The rating from the vulnerability's own source when there is one; otherwise the highest stated (a gate
  // errs on the cautious side when sources disagree).
  const own = v.source?.name ? ratings.find((r) => r.source?.name === v.source?.name && r.severity) : undefined;
  if (own) return normalizeSeverity(own.severity);
  let best: Severity = "unknown";
  for (const r of ratings) {
    let s = normalizeSeverity(r.severity);
    if (s === "unknown" && typeof r.score === "number") s = severityFromScore(r.score);
    if (s !== "unknown" && (best === "unknown" || severityRank(s) < severityRank(best))) best = s;
  }
  return best;
}

const METHOD_VERSION: Record<string, string> = table({ CVSSv2: "2.0", CVSSv3: "3.0", CVSSv31: "3.1", CVSSv4: "4.0" });

function cvssOf(v: z.infer<typeof vulnerability>): Cvss | undefined {
  const ratings = (v.ratings ?? []).filter((r) => r.method && METHOD_VERSION[r.method] && typeof r.score === "number");
  const preferred = [v.source?.name, "nvd"].filter(Boolean);
  for (const src of preferred) {
    let best: Cvss | undefined;
    for (const r of ratings) if (r.source?.name === src) best = betterCvss(best, cvss(r.score, r.vector, METHOD_VERSION[r.method!]));
    if (best) return best;
  }
  let best: Cvss | undefined;
  for (const r of ratings) best = betterCvss(best, cvss(r.score, r.vector, METHOD_VERSION[r.method!]));
  return best;
}

/** Trivy writes the fix as "Upgrade <pkg> to version <v>". */
function fixFromRecommendation(rec: string | null | undefined): string | undefined {
  if (!rec) return undefined;
  // The last "to version " (at a word start), then one run of non-space to the end: index scans, no backtracking.
  const t = rec.trimEnd();
  const at = t.lastIndexOf("to version ");
  if (at < 0 || (at > 0 && /\w/.test(t[at - 1]!))) return undefined;
  const v = t.slice(at + "to version ".length);
  return v && !/\s/.test(v) ? v : undefined;
}

type Tools = NonNullable<z.infer<typeof bom>["metadata"]>["tools"];

export function toolOf(tools: Tools): { name: string; version?: string } | undefined {
  const list = Array.isArray(tools) ? tools : [...(tools?.components ?? []), ...(tools?.services ?? [])];
  const t = list.find((x) => x.name);
  return t?.name ? { name: t.name, ...opt("version", t.version) } : undefined;
}

export function parseCycloneDx(input: unknown, ctx: ParseContext): ParsedEvidence {
  return runSync(cycloneDxSteps(input, ctx));
}

/** parseCycloneDx as steps: validation and flattening pause every STEP components (see runAsync). */
export function* cycloneDxSteps(input: unknown, ctx: ParseContext): Steps<ParsedEvidence> {
  const label = labelOf(ctx, "CycloneDX");
  const d = yield* validateBom(input, ctx, label);
  const m = /^1\.(\d+)$/.exec(d.specVersion);
  if (!m || Number(m[1]) < 2) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: specVersion ${JSON.stringify(d.specVersion)} is not supported (1.2 to 1.6 are)`, ["specVersion"]);
  }

  const components: Component[] = [];
  const byRef = new Map<string, CdxComponent>();
  const stack: CdxComponent[] = [...(d.components ?? [])].reverse();
  while (stack.length) {
    const c = stack.pop()!;
    components.push(toComponent(c));
    if (components.length % (STEP * 5) === 0) yield;
    const ref = c["bom-ref"];
    // The first component with a bom-ref keeps it, as on the streamed path (sbom-stream.ts): one answer on both.
    if (ref && !byRef.has(ref)) byRef.set(ref, c);
    if (c.components?.length) for (let i = c.components.length - 1; i >= 0; i--) stack.push(c.components[i]!);
  }

  const t = toolOf(d.metadata?.tools);
  const { findings, hasAnalysis } = findingsOf(d.vulnerabilities ?? [], byRef, t, d.metadata?.component?.name ?? undefined);
  const subjects = subjectsOf(d.metadata?.component);

  const kind = hasAnalysis ? "vex" : d.vulnerabilities?.length ? "scan" : "sbom";
  return {
    format: "cyclonedx",
    kind,
    components,
    findings,
    ...opt("scannedAt", d.metadata?.timestamp),
    ...(t ? { tool: t } : {}),
    subjects,
  };
}

/** Findings of a BOM's vulnerabilities; `byRef` resolves `affects` refs to the BOM's components. */
export function findingsOf(
  vulnerabilities: readonly z.infer<typeof vulnerability>[],
  byRef: Map<string, CdxComponent>,
  t: { name: string; version?: string } | undefined,
  subjectName: string | undefined,
): { findings: Finding[]; hasAnalysis: boolean } {
  const source = t?.name?.toLowerCase() || "cyclonedx";
  const findings: Finding[] = [];
  let hasAnalysis = false;
  for (const v of vulnerabilities) {
    const severity = severityOf(v);
    const c = cvssOf(v);
    const aliases = uniq((v.references ?? []).map((r) => r.id).filter((id): id is string => Boolean(id) && id !== v.id));
    const urls = uniq([v.source?.url, ...(v.advisories ?? []).map((a) => a.url)].filter((u): u is string => Boolean(u)));
    const analysisStatus = v.analysis?.state ? (ANALYSIS_STATE[v.analysis.state] ?? "unknown") : undefined;
    if (v.analysis?.state) hasAnalysis = true;
    const detail = v.analysis ? [v.analysis.state, v.analysis.justification, v.analysis.detail].filter(Boolean).join(": ") || undefined : undefined;
    const affects = v.affects?.length ? v.affects : [undefined];
    for (const a of affects) {
      const target = a ? resolveRef(a.ref, byRef) : { name: subjectName ?? "" };
      const versions = a?.versions ?? [];
      const affectedVersion = versions.find((x) => x.status === "affected" && x.version)?.version;
      const unaffected = versions.find((x) => x.status === "unaffected" && x.version)?.version;
      const fixedVersion = unaffected ?? fixFromRecommendation(v.recommendation);
      let status: FindingStatus = analysisStatus ?? "affected";
      if (!analysisStatus && versions.length) {
        if (versions.some((x) => x.status === "affected")) status = "affected";
        else if (versions.every((x) => x.status === "unaffected")) status = "not_affected";
        else status = "unknown";
      }
      findings.push({
        id: v.id,
        aliases,
        severity,
        ...(c ? { cvss: c } : {}),
        package: target.name,
        ...opt("purl", target.purl),
        ...opt("installedVersion", affectedVersion ?? target.version),
        ...opt("fixedVersion", fixedVersion),
        fixAvailable: Boolean(fixedVersion),
        status,
        ...opt("statusDetail", detail),
        source,
        ...(urls.length ? { urls } : {}),
      });
    }
  }

  return { findings, hasAnalysis };
}

type MetadataComponent = NonNullable<NonNullable<z.infer<typeof bom>["metadata"]>["component"]>;

/** What the BOM's metadata.component says the BOM is about. */
export function subjectsOf(mc: MetadataComponent | null | undefined): Subject[] {
  const subjects: Subject[] = [];
  if (mc) {
    const name = mc.name ?? undefined;
    // Syft writes the image's manifest digest as the root component's version.
    const v = normalizeDigest(mc.version);
    if (v) addSubject(subjects, { digest: v, ...opt("name", name), kind: "manifest" });
    for (const p of [mc.purl, mc["bom-ref"]]) {
      const dg = ociPurlDigest(p);
      if (dg) addSubject(subjects, { digest: dg, ...opt("name", name), kind: "manifest" });
    }
    for (const p of mc.properties ?? []) {
      if (!p.value) continue;
      if (p.name === "aquasecurity:trivy:ImageID") {
        const dg = normalizeDigest(p.value);
        if (dg) addSubject(subjects, { digest: dg, ...opt("name", name), kind: "config" });
      } else if (p.name === "aquasecurity:trivy:RepoDigest") {
        const s = repoDigestSubject(p.value);
        if (s) addSubject(subjects, s);
      }
    }
  }

  return subjects;
}

import { z } from "zod";
import { cycloneDxSteps } from "./cyclonedx";
import { EvidenceError, formatPath, parseWith, runSync, type Steps } from "./errors";
import { looksLikeGrype, parseGrype } from "./grype";
import type { EvidenceKind, Finding, FindingStatus, Material, ParsedEvidence, Provenance, Subject } from "./model";
import { spdxSteps } from "./spdx";
import { looksLikeTrivy, parseTrivy } from "./trivy";
import { addSubject, assertJsonDepth, digestSet, labelOf, nested, opt, optStr, primaryDigest, trimEnd, uniq, type ParseContext } from "./util";
import { table } from "./lookup";

// in-toto Statements (v0.1 and v1) and the predicates read here: SLSA provenance v0.1/v0.2/v1, CycloneDX, SPDX,
// the cosign vuln predicate and OpenVEX. Any other predicate is kept as an opaque attestation.

const digestMap = z.record(z.string(), z.string()).nullish();

const statement = z.object({
  _type: z.string(),
  predicateType: z.string(),
  subject: z.array(z.object({ name: optStr, uri: optStr, digest: digestMap })),
  predicate: z.unknown().optional(),
});

export function looksLikeInToto(v: Record<string, unknown>): boolean {
  return typeof v._type === "string" && /^https:\/\/in-toto\.io\/Statement\//.test(v._type);
}

const resourceDescriptor = z.object({ uri: optStr, name: optStr, digest: digestMap });

const slsa02 = z.object({
  builder: z.object({ id: optStr }).nullish(),
  buildType: optStr,
  // v0.1 named it recipe.
  recipe: z.object({ type: optStr, entryPoint: optStr }).nullish(),
  invocation: z.object({ configSource: z.object({ uri: optStr, digest: digestMap, entryPoint: optStr }).nullish() }).nullish(),
  metadata: z.object({ buildStartedOn: optStr, buildFinishedOn: optStr }).nullish(),
  materials: z.array(resourceDescriptor).nullish(),
});

const slsa1 = z.object({
  buildDefinition: z.object({
    buildType: z.string(),
    externalParameters: z.unknown().optional(),
    internalParameters: z.unknown().optional(),
    resolvedDependencies: z.array(resourceDescriptor).nullish(),
  }),
  runDetails: z.object({
    builder: z.object({ id: z.string() }),
    metadata: z.object({ invocationId: optStr, startedOn: optStr, finishedOn: optStr }).nullish(),
  }),
});

const scanner = z.object({
  uri: optStr,
  version: optStr,
  db: z.object({ uri: optStr, version: optStr }).nullish(),
  result: z.unknown().optional(),
});

// The cosign code writes `scanner` (one object); its spec document says `scanners` (an array). Accept both.
const vulnPredicate = z.object({
  scanner: scanner.nullish(),
  scanners: z.array(scanner).nullish(),
  metadata: z.object({ scanStartedOn: optStr, scanFinishedOn: optStr }).nullish(),
});

const openVex = z.object({
  author: optStr,
  timestamp: optStr,
  statements: z.array(
    z.object({
      vulnerability: z.union([z.string(), z.object({ name: optStr, "@id": optStr, aliases: z.array(z.string()).nullish() })]),
      products: z
        .array(z.union([z.string(), z.object({ "@id": optStr, subcomponents: z.array(z.union([z.string(), z.object({ "@id": optStr })])).nullish() })]))
        .nullish(),
      status: z.string(),
      justification: optStr,
      impact_statement: optStr,
      status_notes: optStr,
    }),
  ),
});

type PredicateKind = "slsa1" | "slsa02" | "cyclonedx" | "spdx" | "vuln" | "openvex" | "other";

export function predicateKindOf(pt: string): PredicateKind {
  if (pt.length > 512) return "other";
  const t = trimEnd(pt, "/");
  if (/^https:\/\/slsa\.dev\/provenance\/v1(\.\d+)?$/.test(t)) return "slsa1";
  if (/^https:\/\/slsa\.dev\/provenance\/v0\.[12]$/.test(t)) return "slsa02";
  if (/^https?:\/\/cyclonedx\.org\/bom(\/v?\d+(\.\d+)*)?$/.test(t)) return "cyclonedx";
  if (/^https?:\/\/spdx\.dev\/Document(\/v?\d+(\.\d+)*)?$/.test(t)) return "spdx";
  if (/^(https:\/\/)?cosign\.sigstore\.dev\/attestation\/vuln\/v1$/.test(t)) return "vuln";
  if (/^https:\/\/openvex\.dev\/ns(\/v[\d.]+)?$/.test(t)) return "openvex";
  return "other";
}

// An OCI repository name: a registry host (with a dot or a port, or localhost) then a path.
const IMAGE_NAME = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)+|localhost|[a-z0-9-]+:\d+)(?::\d+)?\/[a-z0-9._\/-]+$/i;

function statementSubjects(subjects: z.infer<typeof statement>["subject"]): Subject[] {
  const out: Subject[] = [];
  for (const s of subjects) {
    const digest = primaryDigest(digestSet(s.digest));
    const name = s.name ?? s.uri ?? undefined;
    // Attestations about images (cosign, Tekton Chains, GitHub) name the repository and give the manifest digest.
    const kind = name && name.length <= 512 && IMAGE_NAME.test(name) ? "manifest" : "unknown";
    addSubject(out, { ...opt("digest", digest), ...opt("name", name), kind });
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v ? v : undefined;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** "git+https://github.com/o/r@refs/heads/main" → "https://github.com/o/r" */
function repoFromUri(uri: string): string {
  let u = uri.replace(/^git\+/, "");
  const at = u.indexOf("@", u.indexOf("://") + 3);
  if (at > 0) u = u.slice(0, at);
  return u;
}

function commitOf(d: Record<string, string> | undefined): string | undefined {
  return d?.gitCommit ?? d?.sha1 ?? undefined;
}

function materialsOf(list: z.infer<typeof resourceDescriptor>[] | null | undefined): Material[] {
  const out: Material[] = [];
  for (const m of list ?? []) {
    const uri = m.uri ?? m.name;
    if (!uri) continue;
    const digest = digestSet(m.digest);
    out.push({ uri, ...(digest ? { digest } : {}) });
  }
  return out;
}

function provenance02(predicateType: string, input: unknown, ctx: ParseContext): Provenance {
  const p = parseWith(labelOf(ctx, "SLSA provenance"), slsa02, input, ctx.prefix);
  const cs = p.invocation?.configSource;
  const csDigest = digestSet(cs?.digest);
  const materials = materialsOf(p.materials);
  return {
    predicateType,
    ...opt("builderId", p.builder?.id),
    ...opt("buildType", p.buildType ?? p.recipe?.type),
    ...opt("sourceRepo", cs?.uri ? repoFromUri(cs.uri) : undefined),
    ...opt("sourceCommit", commitOf(csDigest)),
    ...opt("entryPoint", cs?.entryPoint ?? p.recipe?.entryPoint),
    materials,
    ...opt("startedOn", p.metadata?.buildStartedOn),
    ...opt("finishedOn", p.metadata?.buildFinishedOn),
  };
}

function provenance1(predicateType: string, input: unknown, ctx: ParseContext): Provenance {
  const p = parseWith(labelOf(ctx, "SLSA provenance"), slsa1, input, ctx.prefix);
  const ext = obj(p.buildDefinition.externalParameters);
  const int = obj(p.buildDefinition.internalParameters);
  const materials = materialsOf(p.buildDefinition.resolvedDependencies);
  // GitHub Actions build type: externalParameters.workflow = { ref, repository, path }.
  const wf = obj(ext?.workflow);
  const source = materials.find((m) => m.uri.startsWith("git+") || commitOf(m.digest));
  const sourceRepo = str(wf?.repository) ?? (source ? repoFromUri(source.uri) : undefined);
  const workflow = str(wf?.path) ?? str(int?.GITHUB_WORKFLOW_REF) ?? str(ext?.workflowPath);
  return {
    predicateType,
    builderId: p.runDetails.builder.id,
    buildType: p.buildDefinition.buildType,
    ...opt("sourceRepo", sourceRepo),
    ...opt("sourceCommit", commitOf(source?.digest) ?? str(int?.GITHUB_SHA)),
    ...opt("entryPoint", str(ext?.entryPoint)),
    ...opt("workflow", workflow),
    materials,
    ...opt("startedOn", p.runDetails.metadata?.startedOn),
    ...opt("finishedOn", p.runDetails.metadata?.finishedOn),
  };
}

function scannerName(uri: string | null | undefined): string | undefined {
  if (!uri) return undefined;
  // pkg:github/aquasecurity/trivy@v0.19.2 → trivy
  const noVersion = uri.split("@")[0]!;
  const last = noVersion.split("/").pop();
  return last ? last.toLowerCase() : undefined;
}

function parseVuln(input: unknown, ctx: ParseContext): Omit<ParsedEvidence, "format" | "subjects"> & { subjects: Subject[] } {
  const label = labelOf(ctx, "cosign vuln predicate");
  const p = parseWith(label, vulnPredicate, input, ctx.prefix);
  const scanners: [z.infer<typeof scanner>, PropertyKey[]][] = [];
  if (p.scanner) scanners.push([p.scanner, ["scanner"]]);
  (p.scanners ?? []).forEach((s, i) => scanners.push([s, ["scanners", i]]));
  if (!scanners.length) throw new EvidenceError("INVALID_DOCUMENT", `${label}: scanner is missing`, ["scanner"]);

  const findings: Finding[] = [];
  const subjects: Subject[] = [];
  let tool: ParsedEvidence["tool"];
  let scannedAt: string | undefined;
  for (const [s, path] of scanners) {
    const name = scannerName(s.uri);
    tool ??= name ? { name, ...opt("version", s.version) } : undefined;
    const r = obj(s.result);
    if (s.result === null || s.result === undefined) continue;
    const where = formatPath([...ctx.prefix, ...path, "result"]);
    // A result we cannot read must not pass for a clean scan.
    if (!r)
      throw new EvidenceError(
        "INVALID_DOCUMENT",
        `${label}: ${where} should be a scanner report, not ${Array.isArray(s.result) ? "an array" : typeof s.result}`,
        [where],
      );
    let inner: ParsedEvidence;
    if (looksLikeTrivy(r)) inner = parseTrivy(r, nested(ctx, "cosign vuln predicate", ...path, "result"));
    else if (looksLikeGrype(r)) inner = parseGrype(r, nested(ctx, "cosign vuln predicate", ...path, "result"));
    else throw new EvidenceError("INVALID_DOCUMENT", `${label}: ${where} is not a Trivy or Grype report`, [where]);
    for (const f of inner.findings) findings.push(name && f.source !== name ? { ...f, source: name } : f);
    for (const sub of inner.subjects) addSubject(subjects, sub);
    scannedAt ??= inner.scannedAt;
  }
  return {
    kind: "scan",
    components: [],
    findings,
    ...opt("scannedAt", p.metadata?.scanFinishedOn ?? p.metadata?.scanStartedOn ?? scannedAt),
    ...(tool ? { tool } : {}),
    subjects,
  };
}

const VEX_STATUS: Record<string, FindingStatus> = table({
  not_affected: "not_affected",
  affected: "affected",
  fixed: "fixed",
  under_investigation: "under_investigation",
});

/** pkg:type/ns/name@version?q#sub → name, version (enough to label a VEX statement's product). String scans only: linear. */
export function purlName(id: string): { name: string; version?: string } {
  if (!id.startsWith("pkg:")) return { name: id };
  const slash = id.indexOf("/", 4);
  if (slash <= 4) return { name: id };
  let end = id.length;
  for (const sep of ["?", "#"]) {
    const at = id.indexOf(sep, slash + 1);
    if (at >= 0 && at < end) end = at;
  }
  const path = id.slice(slash + 1, end);
  const lastSlash = path.lastIndexOf("/");
  const tail = path.slice(lastSlash + 1);
  const at = tail.indexOf("@");
  const rawName = at >= 0 ? tail.slice(0, at) : tail;
  const rawVersion = at >= 0 ? tail.slice(at + 1) : "";
  if (!rawName) return { name: id };
  const m = [rawName, rawVersion] as const;
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { name: dec(m[0]), ...opt("version", m[1] ? dec(m[1]) : undefined) };
}

function parseOpenVex(input: unknown, ctx: ParseContext): Omit<ParsedEvidence, "format"> {
  const p = parseWith(labelOf(ctx, "OpenVEX"), openVex, input, ctx.prefix);
  const findings: Finding[] = [];
  for (const s of p.statements) {
    const v = typeof s.vulnerability === "string" ? { name: s.vulnerability, aliases: [] as string[] } : s.vulnerability;
    const id = v.name ?? v["@id"] ?? "";
    if (!id) continue;
    const status = VEX_STATUS[s.status] ?? "unknown";
    const detail = [s.status, s.justification, s.impact_statement ?? s.status_notes].filter(Boolean).join(": ");
    const targets: string[] = [];
    for (const prod of s.products ?? []) {
      if (typeof prod === "string") targets.push(prod);
      else if (prod.subcomponents?.length) for (const sc of prod.subcomponents) targets.push(typeof sc === "string" ? sc : (sc["@id"] ?? ""));
      else if (prod["@id"]) targets.push(prod["@id"]);
    }
    for (const t of targets.length ? targets : [""]) {
      const pn = purlName(t);
      findings.push({
        id,
        aliases: uniq((("aliases" in v ? v.aliases : null) ?? []).filter((a) => a !== id)),
        severity: "unknown",
        package: pn.name,
        ...opt("purl", t.startsWith("pkg:") ? t : undefined),
        ...opt("installedVersion", pn.version),
        fixAvailable: status === "fixed",
        status,
        ...opt("statusDetail", detail),
        source: "openvex",
      });
    }
  }
  return { kind: "vex", components: [], findings, ...opt("scannedAt", p.timestamp), tool: { name: "openvex" }, subjects: [] };
}

/** A predicate given as a JSON string (some tools wrap the SBOM that way) is decoded first. */
function jsonPredicate(predicate: unknown, label: string): unknown {
  if (typeof predicate !== "string") return predicate;
  assertJsonDepth(predicate, `${label}: the predicate`);
  try {
    return JSON.parse(predicate);
  } catch {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: predicate is a string that is not JSON`, ["predicate"]);
  }
}

export function parseInToto(input: unknown, ctx: ParseContext): ParsedEvidence {
  return runSync(inTotoSteps(input, ctx));
}

/** parseInToto as steps: an SBOM predicate is validated in steps (see runAsync). */
export function* inTotoSteps(input: unknown, ctx: ParseContext): Steps<ParsedEvidence> {
  const label = labelOf(ctx, "in-toto");
  const st = parseWith(label, statement, input, ctx.prefix);
  if (!/^https:\/\/in-toto\.io\/Statement\/v(0\.1|1(\.\d+)?)$/.test(st._type)) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: _type ${JSON.stringify(st._type)} is not supported (Statement v0.1 and v1 are)`, ["_type"]);
  }
  if (!st.subject.length) throw new EvidenceError("INVALID_DOCUMENT", `${label}: subject is empty`, ["subject"]);
  const subjects = statementSubjects(st.subject);
  const pctx = nested(ctx, "in-toto predicate", "predicate");
  const kindOf = predicateKindOf(st.predicateType);

  let inner: Omit<ParsedEvidence, "format"> = { kind: "attestation", components: [], findings: [], subjects: [] };
  switch (kindOf) {
    case "slsa02":
      inner = { ...inner, kind: "provenance", provenance: provenance02(st.predicateType, st.predicate, pctx) };
      break;
    case "slsa1":
      inner = { ...inner, kind: "provenance", provenance: provenance1(st.predicateType, st.predicate, pctx) };
      break;
    case "cyclonedx":
      inner = yield* cycloneDxSteps(jsonPredicate(st.predicate, label), pctx);
      break;
    case "spdx":
      inner = yield* spdxSteps(jsonPredicate(st.predicate, label), pctx);
      break;
    case "vuln":
      inner = parseVuln(st.predicate, pctx);
      break;
    case "openvex":
      inner = parseOpenVex(st.predicate, pctx);
      break;
    case "other":
      break;
    default: {
      const never: never = kindOf;
      throw new Error(`unhandled predicate kind ${String(never)}`);
    }
  }
  // The statement's subjects are what was attested; the predicate's own (e.g. an SBOM's image ID) follow.
  for (const s of inner.subjects) addSubject(subjects, s);
  const kind: EvidenceKind = inner.kind;
  return {
    format: "in-toto",
    kind,
    components: inner.components,
    findings: inner.findings,
    ...(inner.provenance ? { provenance: inner.provenance } : {}),
    predicateType: st.predicateType,
    ...opt("scannedAt", inner.scannedAt),
    ...(inner.tool ? { tool: inner.tool } : {}),
    subjects,
  };
}

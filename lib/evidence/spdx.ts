import { z } from "zod";
import { describeIssues, EvidenceError, invalidDocument, runSync, validateList, type Steps } from "./errors";
import type { Component, ParsedEvidence, Subject } from "./model";
import { ecosystemFromPurl, normalizeDigest } from "./model";
import { addSubject, labelOf, opt, optStr, ociPurlDigest, repoDigestSubject, type ParseContext } from "./util";

// SPDX 2.2 / 2.3 JSON.

const externalRef = z.object({ referenceCategory: optStr, referenceType: optStr, referenceLocator: optStr });

export const pkg = z.object({
  SPDXID: z.string(),
  name: z.string(),
  versionInfo: optStr,
  licenseConcluded: optStr,
  licenseDeclared: optStr,
  externalRefs: z.array(externalRef).nullish(),
  checksums: z.array(z.object({ algorithm: optStr, checksumValue: optStr })).nullish(),
  primaryPackagePurpose: optStr,
  annotations: z.array(z.object({ comment: optStr })).nullish(),
});

export const doc = z.object({
  spdxVersion: z.string(),
  SPDXID: optStr,
  name: optStr,
  creationInfo: z.object({ created: optStr, creators: z.array(z.string()).nullish() }).nullish(),
  documentDescribes: z.array(z.string()).nullish(),
  packages: z.array(pkg).nullish(),
  relationships: z.array(z.object({ spdxElementId: optStr, relationshipType: optStr, relatedSpdxElement: optStr })).nullish(),
});

// The document without its package list, which is validated STEP packages at a time.
const docShell = doc.extend({ packages: z.array(z.unknown()).nullish() });

function* validateDoc(input: unknown, ctx: ParseContext, label: string): Steps<z.infer<typeof doc>> {
  const shell = docShell.safeParse(input);
  const issues = shell.success ? [] : describeIssues(shell.error.issues, input, ctx.prefix);
  const packages = shell.success && shell.data.packages ? yield* validateList(pkg, shell.data.packages, [...ctx.prefix, "packages"], issues) : undefined;
  if (issues.length || !shell.success) throw invalidDocument(label, issues);
  return { ...shell.data, packages: packages ?? (shell.data.packages as null | undefined) };
}

export function looksLikeSpdx(v: Record<string, unknown>): boolean {
  return typeof v.spdxVersion === "string" && v.spdxVersion.startsWith("SPDX-");
}

// SPDX 2.3 spells it PACKAGE-MANAGER, 2.2 (and Syft's 2.2 output) PACKAGE_MANAGER.
function purlOf(p: z.infer<typeof pkg>): string | undefined {
  for (const r of p.externalRefs ?? []) {
    const cat = r.referenceCategory?.toUpperCase().replace("_", "-");
    if (cat === "PACKAGE-MANAGER" && r.referenceType === "purl" && r.referenceLocator) return r.referenceLocator;
  }
  return undefined;
}

const NO_LICENSE = new Set(["NOASSERTION", "NONE", ""]);

function licensesOf(p: z.infer<typeof pkg>): string[] {
  const out: string[] = [];
  for (const l of [p.licenseDeclared, p.licenseConcluded]) if (l && !NO_LICENSE.has(l) && !out.includes(l)) out.push(l);
  return out;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isVersionChar = (c: string) => /[\w.+-]/.test(c);

/**
 * "name-v?version": the name is everything up to the first "-" that is followed by an optional "v" and a version
 * (a digit, then only word characters, dots, plus and minus signs to the end). The same split as
 * /^(.+?)-v?(\d[\w.+-]*)$/, which backtracks quadratically on "a-1-1-…-1!", in one pass from each end.
 */
export function splitToolName(t: string): { name: string; version?: string } {
  // A line break ends the name in the regex's terms (`.` does not match one): no split then.
  if (/[\n\r\u2028\u2029]/.test(t)) return { name: t };
  // Where the trailing run of version characters starts.
  let suffix = t.length;
  while (suffix > 0 && isVersionChar(t[suffix - 1]!)) suffix--;
  for (let i = 1; i < t.length; i++) {
    if (t[i] !== "-") continue;
    let v = i + 1;
    if (t[v] === "v" && isDigit(t[v + 1])) v++;
    if (isDigit(t[v]) && v >= suffix) return { name: t.slice(0, i), version: t.slice(v) };
  }
  return { name: t };
}

/** "Tool: syft-0.58.0" → { name: "syft", version: "0.58.0" } */
export function toolOf(creators: string[] | null | undefined): { name: string; version?: string } | undefined {
  const c = creators?.find((x) => x.startsWith("Tool:"));
  if (!c) return undefined;
  return splitToolName(c.slice(5).trim());
}

export function parseSpdx(input: unknown, ctx: ParseContext): ParsedEvidence {
  return runSync(spdxSteps(input, ctx));
}

/** parseSpdx as steps: package validation pauses every STEP packages (see runAsync). */
export function* spdxSteps(input: unknown, ctx: ParseContext): Steps<ParsedEvidence> {
  const label = labelOf(ctx, "SPDX");
  const d = yield* validateDoc(input, ctx, label);
  if (!/^SPDX-2\.\d+$/.test(d.spdxVersion)) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: spdxVersion ${JSON.stringify(d.spdxVersion)} is not supported (SPDX-2.2 and SPDX-2.3 are)`, [
      "spdxVersion",
    ]);
  }
  const packages = d.packages ?? [];
  const components: Component[] = packages.map(componentOf);

  // The subject is what the document DESCRIBES; only those packages (and CONTAINER packages) can name the image.
  const docId = d.SPDXID ?? "SPDXRef-DOCUMENT";
  const described = new Set(d.documentDescribes ?? []);
  for (const r of d.relationships ?? []) {
    if (r.relationshipType === "DESCRIBES" && r.spdxElementId === docId && r.relatedSpdxElement) described.add(r.relatedSpdxElement);
    if (r.relationshipType === "DESCRIBED_BY" && r.relatedSpdxElement === docId && r.spdxElementId) described.add(r.spdxElementId);
  }
  const subjects: Subject[] = [];
  for (const p of packages) {
    if (!described.has(p.SPDXID) && p.primaryPackagePurpose !== "CONTAINER") continue;
    for (const sj of packageSubjects(p)) addSubject(subjects, sj);
  }

  const t = toolOf(d.creationInfo?.creators);
  return {
    format: "spdx",
    kind: "sbom",
    components,
    findings: [],
    ...opt("scannedAt", d.creationInfo?.created),
    ...(t ? { tool: t } : {}),
    subjects,
  };
}

export function componentOf(p: z.infer<typeof pkg>): Component {
  const purl = purlOf(p);
  return {
    name: p.name,
    ...opt("version", p.versionInfo),
    ...opt("purl", purl),
    ...opt("type", p.primaryPackagePurpose),
    licenses: licensesOf(p),
    ...opt("ecosystem", ecosystemFromPurl(purl)),
  };
}

/** The digests a package names (the subject when the document describes it, or it is a CONTAINER). */
export function packageSubjects(p: z.infer<typeof pkg>): Subject[] {
  const subjects: Subject[] = [];
  const v = normalizeDigest(p.versionInfo);
  if (v) addSubject(subjects, { digest: v, name: p.name, kind: "manifest" });
  const pd = ociPurlDigest(purlOf(p));
  if (pd) addSubject(subjects, { digest: pd, name: p.name, kind: "manifest" });
  for (const c of p.checksums ?? []) {
    const alg = c.algorithm?.toLowerCase().replace("-", "");
    const dg = alg && c.checksumValue ? normalizeDigest(`${alg}:${c.checksumValue}`) : undefined;
    if (dg) addSubject(subjects, { digest: dg, name: p.name, kind: "unknown" });
  }
  // Trivy annotates the root package with "ImageID: sha256:…" and "RepoDigest: repo@sha256:…".
  for (const a of p.annotations ?? []) {
    const m = /^(ImageID|RepoDigest):\s*(\S+)$/.exec(a.comment?.trim() ?? "");
    if (!m) continue;
    if (m[1] === "ImageID") {
      const dg = normalizeDigest(m[2]);
      if (dg) addSubject(subjects, { digest: dg, name: p.name, kind: "config" });
    } else {
      const s = repoDigestSubject(m[2]!);
      if (s) addSubject(subjects, s);
    }
  }
  return subjects;
}

/**
 * Stage gates: an ordered list of checks over an image's evidence, each returning a result the UI shows as is.
 * Framework-free: configuration and facts in, results out. The server gathers the facts (lib/server/promotions).
 */
import { z } from "zod";
import { matchScope } from "../signing/trust/judgement";

export const GATE_SEVERITIES = ["critical", "high", "medium", "low"] as const;
export type GateSeverity = (typeof GATE_SEVERITIES)[number];

const pattern = z.string().min(1).max(300);

/** A stage's gate configuration. Every gate is optional; `{}` means "no gates". Unknown keys are refused. */
export const gateConfigSchema = z
  .object({
    findings: z
      .object({
        /** Maximum findings per severity, e.g. { critical: 0, high: 3 }. A severity left out is not limited. */
        max: z.object(Object.fromEntries(GATE_SEVERITIES.map((s) => [s, z.number().int().min(0).max(100_000).optional()])) as Record<GateSeverity, z.ZodOptional<z.ZodNumber>>).strict(),
        /** "fixable": count only findings with a fix available; "all": count every applicable finding. */
        count: z.enum(["fixable", "all"]).default("all"),
      })
      .strict()
      .optional(),
    sbom: z.boolean().optional(),
    provenance: z
      .object({
        /** Glob patterns (`*` within a path segment, `**` across; as trust scopes) the builder id must match; empty = any. */
        builderIds: z.array(pattern).max(50).default([]),
        sourceRepos: z.array(pattern).max(50).default([]),
      })
      .strict()
      .optional(),
    /** The evidence used (scans, SBOM, VEX, provenance) must be signed by a key trusted as builder / scanner, not merely uploaded. */
    signedEvidence: z.boolean().optional(),
    /** The previous stage's signature must be present and verify. */
    previousStage: z.boolean().optional(),
    /** The base image's publisher signature must verify. */
    basePublisher: z.boolean().optional(),
    /** The newest scan must be at most this many hours old. */
    maxScanAgeHours: z.number().int().min(1).max(24 * 365).optional(),
  })
  .strict();

export type GateConfig = z.infer<typeof gateConfigSchema>;

export class GateConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GateConfigError";
  }
}

/** Parses stored or submitted gate configuration, listing every bad field. */
export function parseGateConfig(input: unknown): GateConfig {
  const r = gateConfigSchema.safeParse(input);
  if (!r.success) throw new GateConfigError(r.error.issues.map((i) => `gates${i.path.length ? `.${i.path.join(".")}` : ""}: ${i.message}`).join("; "));
  return r.data;
}

export type GateId = "findings" | "sbom" | "provenance" | "signedEvidence" | "previousStage" | "basePublisher" | "scanAge";
export const GATE_IDS: readonly GateId[] = ["findings", "sbom", "provenance", "signedEvidence", "previousStage", "basePublisher", "scanAge"];

export interface FindingFact {
  vulnId: string;
  severity: string;
  fixAvailable: boolean;
  package: string;
}

export interface EvidenceFact {
  kind: string; // scan | sbom | vex | provenance | attestation
  signatureStatus: string; // signed | unsigned | invalid
  signedBy: string | null;
}

export interface ProvenanceFact {
  builderId: string | null;
  sourceRepo: string | null;
  /** Whether its statement was signed by a key trusted as builder for the repository (absent: unsigned). */
  signed?: boolean;
  signedBy?: string | null;
}

export interface WaiverFact {
  id: string;
  gate: string;
  /** For the findings gate: only these vulnerability ids. Empty: the whole gate. */
  vulnIds: readonly string[];
  reason: string;
  expiresAt: Date;
  grantedBy: string;
}

/** Everything the gates judge, gathered by the server at one point in time. */
export interface GateFacts {
  now: Date;
  /** Applicable findings (VEX not_affected / fixed already removed), merged across scanners. */
  findings: readonly FindingFact[];
  /** Whether any scan was uploaded at all: "0 findings" without a scan proves nothing. */
  scanCount: number;
  newestScanAt: Date | null;
  sbomCount: number;
  provenance: readonly ProvenanceFact[];
  evidence: readonly EvidenceFact[];
  previousStage: { name: string; state: string; detail: string } | null;
  base: { state: "verified" | "unverified" | "unknown-base" | "no-base" | "layers-mismatch"; name: string | null; detail: string };
  /** Waivers in scope for this stage and image. Expired or revoked ones may be passed: they are ignored here. */
  waivers: readonly WaiverFact[];
  /** Waivers in scope that do not count for this request (four eyes: granted by its requester or the build's author), with why. */
  discountedWaivers?: readonly (WaiverFact & { why: string })[];
}

export interface GateResult {
  gate: GateId;
  label: string;
  /** true when the gate holds, or when a waiver covers its failure (see `waived`). */
  passed: boolean;
  waived: boolean;
  waiverIds: string[];
  detail: string;
  /** For a failing findings gate: every vulnerability id over its limit (the detail names only the first few). */
  failingIds?: string[];
}


const listIds = (ids: string[], max = 5) => (ids.length <= max ? ids.join(", ") : `${ids.slice(0, max).join(", ")} and ${ids.length - max} more`);

/**
 * Evaluates the configured gates in a fixed order. A failing gate passes only when an active waiver covers it;
 * the result then says so and names the waiver. Gates that are not configured are not listed.
 */
export function evaluateGates(config: GateConfig, facts: GateFacts): GateResult[] {
  const active = facts.waivers.filter((w) => w.expiresAt.getTime() > facts.now.getTime());
  const results: GateResult[] = [];
  const push = (gate: GateId, label: string, passed: boolean, detail: string, waiverIds: string[] = [], failingIds?: string[]) => {
    if (passed) return results.push({ gate, label, passed: true, waived: waiverIds.length > 0, waiverIds, detail });
    const whole = active.filter((w) => w.gate === gate && w.vulnIds.length === 0);
    if (whole.length > 0) {
      const w = whole[0]!;
      return results.push({ gate, label, passed: true, waived: true, waiverIds: [...waiverIds, w.id], detail: `${detail} — waived by ${w.grantedBy} until ${w.expiresAt.toISOString()}: ${w.reason}` });
    }
    const discounted = (facts.discountedWaivers ?? []).filter((w) => w.gate === gate && w.expiresAt.getTime() > facts.now.getTime());
    const note = discounted.length ? ` (waiver${discounted.length === 1 ? "" : "s"} not counted, four eyes: ${discounted.map((w) => w.why).join("; ")})` : "";
    return results.push({ gate, label, passed: false, waived: false, waiverIds, detail: detail + note, ...(failingIds ? { failingIds } : {}) });
  };

  if (config.findings) {
    const { max, count } = config.findings;
    const vulnWaivers = active.filter((w) => w.gate === "findings" && w.vulnIds.length > 0);
    const waivedBy = new Map<string, string>();
    for (const w of vulnWaivers) for (const id of w.vulnIds) if (!waivedBy.has(id)) waivedBy.set(id, w.id);
    const counted = facts.findings.filter((f) => count === "all" || f.fixAvailable);
    const used = new Set<string>();
    const failures: string[] = [];
    const failingIds: string[] = [];
    const summary: string[] = [];
    let waivedCount = 0;
    for (const sev of GATE_SEVERITIES) {
      const limit = max[sev];
      if (limit === undefined) continue;
      const ids = [...new Set(counted.filter((f) => f.severity === sev).map((f) => f.vulnId))].sort();
      const open = ids.filter((id) => {
        const w = waivedBy.get(id);
        if (w) {
          used.add(w);
          waivedCount++;
          return false;
        }
        return true;
      });
      const what = `${sev} findings${count === "fixable" ? " with a fix" : ""}`;
      if (open.length > limit) {
        failures.push(`${what} ${open.length} > ${limit} allowed: ${listIds(open)}`);
        failingIds.push(...open);
      }
      else summary.push(`${what} ${open.length} ≤ ${limit}`);
    }
    const waivedNote = waivedCount ? ` (${waivedCount} waived by ${[...used].length} waiver${used.size === 1 ? "" : "s"})` : "";
    if (facts.scanCount === 0) push("findings", "vulnerability findings", false, "no vulnerability scan has been uploaded, so the findings limits cannot be judged");
    else if (failures.length) push("findings", "vulnerability findings", false, failures.join("; ") + waivedNote, [...used], failingIds);
    else push("findings", "vulnerability findings", true, (summary.join(", ") || "no limits set") + waivedNote, [...used]);
  }

  if (config.sbom) {
    push("sbom", "SBOM present", facts.sbomCount > 0, facts.sbomCount > 0 ? `${facts.sbomCount} SBOM document${facts.sbomCount === 1 ? "" : "s"}` : "no SBOM has been uploaded or found in the registry");
  }

  if (config.provenance) {
    const { builderIds, sourceRepos } = config.provenance;
    // With signed evidence required, only provenance signed by a trusted builder key may satisfy this gate: an unsigned
    // statement is only what its uploader says.
    const usable = config.signedEvidence ? facts.provenance.filter((p) => p.signed) : facts.provenance;
    if (facts.provenance.length === 0) push("provenance", "provenance", false, "no provenance has been uploaded or found in the registry");
    else if (usable.length === 0) push("provenance", "provenance", false, `${facts.provenance.length} provenance statement${facts.provenance.length === 1 ? " is" : "s are"} not signed by a key trusted as builder, and this stage requires signed evidence`);
    else {
      const ok = usable.find(
        (p) => (builderIds.length === 0 || (p.builderId !== null && builderIds.some((g) => matchScope(g, p.builderId!)))) && (sourceRepos.length === 0 || (p.sourceRepo !== null && sourceRepos.some((g) => matchScope(g, p.sourceRepo!)))),
      );
      if (ok) push("provenance", "provenance", true, `builder ${ok.builderId ?? "(none)"}, source ${ok.sourceRepo ?? "(none)"}`);
      else {
        const p = usable[0]!;
        const why: string[] = [];
        if (builderIds.length && !(p.builderId && builderIds.some((g) => matchScope(g, p.builderId!)))) why.push(`builder ${p.builderId ?? "(none)"} matches none of ${builderIds.join(", ")}`);
        if (sourceRepos.length && !(p.sourceRepo && sourceRepos.some((g) => matchScope(g, p.sourceRepo!)))) why.push(`source ${p.sourceRepo ?? "(none)"} matches none of ${sourceRepos.join(", ")}`);
        push("provenance", "provenance", false, why.join("; "));
      }
    }
  }

  if (config.signedEvidence) {
    // Every statement whose content the gates read counts: scans, SBOMs, provenance, and VEX (which can clear findings).
    // Each is a statement of its own (a JSON Lines upload is stored line by line), so one signed line hides no other.
    const relevant = facts.evidence.filter((e) => e.kind === "scan" || e.kind === "sbom" || e.kind === "provenance" || e.kind === "vex");
    const unsigned = relevant.filter((e) => e.signatureStatus !== "signed");
    if (relevant.length === 0) push("signedEvidence", "evidence signed", false, "no scan, SBOM, VEX or provenance to judge");
    else if (unsigned.length) push("signedEvidence", "evidence signed", false, `${unsigned.length} of ${relevant.length} documents are not signed by a key trusted as builder (provenance) or scanner (the rest) (${[...new Set(unsigned.map((e) => `${e.kind} ${e.signatureStatus}`))].join(", ")})`);
    else push("signedEvidence", "evidence signed", true, `all ${relevant.length} documents signed (${[...new Set(relevant.map((e) => e.signedBy ?? "?"))].join(", ")})`);
  }

  if (config.previousStage) {
    const p = facts.previousStage;
    if (!p) push("previousStage", "previous stage signed", true, "this is the first stage");
    else push("previousStage", "previous stage signed", p.state === "approved", p.state === "approved" ? `${p.name}: ${p.detail}` : `${p.name} is ${p.state}: ${p.detail}`);
  }

  if (config.basePublisher) {
    const b = facts.base;
    push("basePublisher", "base image publisher signature", b.state === "verified", b.detail);
  }

  if (config.maxScanAgeHours !== undefined) {
    const limit = config.maxScanAgeHours;
    if (!facts.newestScanAt) push("scanAge", "scan age", false, `no scan; the newest scan must be at most ${limit} h old`);
    else {
      const ageH = (facts.now.getTime() - facts.newestScanAt.getTime()) / 3_600_000;
      const shown = ageH < 1 ? `${Math.round(ageH * 60)} min` : `${ageH.toFixed(1)} h`;
      push("scanAge", "scan age", ageH <= limit, `newest scan ${facts.newestScanAt.toISOString()} is ${shown} old; at most ${limit} h allowed`);
    }
  }
  return results.sort((a, b) => GATE_IDS.indexOf(a.gate) - GATE_IDS.indexOf(b.gate));
}

/** Plain-words summary of failing gates, for "what blocks the next stage". */
export function blockingReasons(results: readonly GateResult[]): string[] {
  return results.filter((r) => !r.passed).map((r) => `${r.label}: ${r.detail}`);
}


/**
 * Stage gates: an ordered list of checks over an image's evidence, each returning a result the UI shows as is.
 * Framework-free and browser-safe: configuration and facts in, results out. The server gathers the facts
 * (lib/server/promotions/gather-gate-facts.ts).
 *
 * The catalogue. Each gate is one file (its config schema, the facts it reads, its explanation and its evaluation);
 * adding a gate is that file plus one line in GATES below. GATES is also the order results are shown in.
 */
import { z } from "zod";
import { basePublisherGate } from "./base-publisher";
import { findingsGate } from "./findings";
import { previousStageGate } from "./previous-stage";
import { provenanceGate } from "./provenance";
import { sbomGate } from "./sbom";
import { scanAgeGate } from "./scan-age";
import { signedEvidenceGate } from "./signed-evidence";
import type { GateDefinition, GateFacts, GateOutcome, WaiverFact } from "./types";

export * from "./types";

export const GATES = [findingsGate, sbomGate, provenanceGate, signedEvidenceGate, previousStageGate, basePublisherGate, scanAgeGate] as const;

type Gate = (typeof GATES)[number];
export type GateId = Gate["id"];
export const GATE_IDS: readonly GateId[] = GATES.map((g) => g.id);

type ConfigShape = { [G in Gate as G["configKey"]]: z.ZodOptional<G["schema"]> };

/** A stage's gate configuration. Every gate is optional; `{}` means "no gates". Unknown keys are refused. */
export const gateConfigSchema = z.object(Object.fromEntries(GATES.map((g) => [g.configKey, g.schema.optional()])) as ConfigShape).strict();

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

/** At most this many discounted documents are named in one gate's detail; the rest are counted. */
const MAX_NAMED_DOCUMENTS = 3;

/**
 * " (evidence not counted: scan sha256:0123456789ab not counted: uploaded by …)": the documents of the kinds this gate
 * reads that do not count for the request (four eyes), so that a failure the requester's own upload would have hidden
 * says why it is not hidden.
 */
function discountedEvidenceNote(gate: Gate, facts: GateFacts): string {
  const kinds: readonly string[] = (gate as GateDefinition).evidenceKinds ?? [];
  const docs = (facts.discountedEvidence ?? []).filter((d) => kinds.includes(d.kind));
  if (!docs.length) return "";
  const named = docs.slice(0, MAX_NAMED_DOCUMENTS).map((d) => d.why);
  const more = docs.length > MAX_NAMED_DOCUMENTS ? `; and ${docs.length - MAX_NAMED_DOCUMENTS} more document(s) for the same reason` : "";
  return ` (${named.join("; ")}${more})`;
}

/**
 * A failing gate passes only when an active waiver of the whole gate covers it; the result then says so and names the
 * waiver. Waivers that do not count (four eyes, or a grantor who may no longer grant them) are named in the failure.
 */
function applyGateWaivers(gate: Gate, outcome: GateOutcome, facts: GateFacts, active: readonly WaiverFact[]): GateResult {
  const { id, label } = gate;
  const waiverIds = outcome.waiverIds ?? [];
  if (outcome.passed) return { gate: id, label, passed: true, waived: waiverIds.length > 0, waiverIds, detail: outcome.detail };
  const whole = active.find((w) => w.gate === id && w.vulnIds.length === 0);
  if (whole) {
    return {
      gate: id,
      label,
      passed: true,
      waived: true,
      waiverIds: [...waiverIds, whole.id],
      detail: `${outcome.detail} — waived by ${whole.grantedBy} until ${whole.expiresAt.toISOString()}: ${whole.reason}`,
    };
  }
  const discounted = (facts.discountedWaivers ?? []).filter((w) => w.gate === id && w.expiresAt.getTime() > facts.now.getTime());
  const note = discounted.length ? ` (waiver${discounted.length === 1 ? "" : "s"} not counted: ${discounted.map((w) => w.why).join("; ")})` : "";
  return {
    gate: id,
    label,
    passed: false,
    waived: false,
    waiverIds,
    detail: outcome.detail + note + discountedEvidenceNote(gate, facts),
    ...(outcome.failingIds ? { failingIds: outcome.failingIds } : {}),
  };
}

/**
 * Whether any gate of the catalogue is configured (present and not `false`): when none is, evaluateGates lists nothing
 * whatever the facts, so a caller need not gather them.
 */
export function hasConfiguredGates(config: GateConfig): boolean {
  return GATES.some((gate) => {
    const value = (config as Record<string, unknown>)[gate.configKey];
    return value !== undefined && value !== false;
  });
}

/**
 * Evaluates the configured gates in catalogue order. Gates that are not configured (absent or `false`) are not listed.
 */
export function evaluateGates(config: GateConfig, facts: GateFacts): GateResult[] {
  const active = facts.waivers.filter((w) => w.expiresAt.getTime() > facts.now.getTime());
  const ctx = { config: config as Readonly<Record<string, unknown>>, activeWaivers: active };
  const results: GateResult[] = [];
  for (const gate of GATES) {
    const value = (config as Record<string, unknown>)[gate.configKey];
    if (value === undefined || value === false) continue;
    // Each gate's value was parsed by its own schema (parseGateConfig); the catalogue loses the pairing in the loop.
    const outcome = (gate as GateDefinition<string, string, z.ZodType>).evaluate(value, facts, ctx);
    results.push(applyGateWaivers(gate, outcome, facts, active));
  }
  return results;
}

/** Plain-words summary of failing gates, for "what blocks the next stage". */
export function blockingReasons(results: readonly GateResult[]): string[] {
  return results.filter((r) => !r.passed).map((r) => `${r.label}: ${r.detail}`);
}

/**
 * The vocabulary every gate shares: the facts the server gathers, what a gate returns, and how a gate is declared.
 * Framework-free and browser-safe (no node: builtins): the stage editor imports the catalogue to show each gate.
 */
import type { z } from "zod";

export const GATE_SEVERITIES = ["critical", "high", "medium", "low"] as const;
export type GateSeverity = (typeof GATE_SEVERITIES)[number];

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
  /**
   * For a signed statement: the builder id patterns its signing identity may vouch for, as the identity is now (null:
   * unsigned, or the identity is gone). The builder id inside a statement is its signer's own claim; with signed
   * evidence required, it satisfies a stage's builder patterns only when these match it.
   */
  signerBuilderIds?: readonly string[] | null;
  /** The digest its statement names (the index, one platform's manifest or config); null or absent: none. */
  subjectDigest?: string | null;
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

/**
 * An evidence document that does not count for this request (four eyes): not signed by a key trusted in its role, and
 * uploaded by the request's requester or one of its approvers. Its content is what that person says, so it counts for
 * no gate of the request; `why` says so in words a reviewer understands.
 */
export interface DiscountedEvidenceFact {
  id: string;
  kind: string; // scan | sbom | vex | provenance | attestation
  /** The document's content digest (sha256 of its bytes), as the evidence page names it. */
  digest: string;
  uploadedBy: string;
  why: string;
}

/** Everything the gates judge, gathered by the server at one point in time. */
export interface GateFacts {
  now: Date;
  /** Applicable findings (VEX not_affected / fixed already removed), merged across scanners. */
  findings: readonly FindingFact[];
  /**
   * Set when the image has more finding rows than the server reads for a judgement: `findings` is then an arbitrary
   * part of them, and the findings gate fails closed rather than judge a part.
   */
  findingsTruncated?: { limit: number };
  /** Whether any scan was uploaded at all: "0 findings" without a scan proves nothing. */
  scanCount: number;
  /**
   * When the newest scan was made (a stated time never later than its upload). For an index: the newest scan of its
   * least recently scanned platform, null while a platform has none.
   */
  newestScanAt: Date | null;
  /**
   * For an index: the platforms ("linux/arm64") that no scan covers, by their manifest or config digest or as the
   * whole index. A scan of one platform does not vouch for another. Absent or empty: nothing is uncovered.
   */
  uncoveredPlatforms?: readonly string[];
  sbomCount: number;
  /** For an index: the platforms no counted SBOM covers (as for scans). Absent or empty: nothing is uncovered. */
  sbomUncoveredPlatforms?: readonly string[];
  /**
   * For an index: its digest and runnable platforms, each with the digests that name it (manifest, config). Evidence
   * naming one platform vouches for that platform only; evidence naming the index, or nothing, covers all of them.
   */
  index?: { digest: string; platforms: readonly { name: string; digests: readonly string[] }[] };
  provenance: readonly ProvenanceFact[];
  evidence: readonly EvidenceFact[];
  previousStage: { name: string; state: string; detail: string } | null;
  base: { state: "verified" | "unverified" | "unknown-base" | "no-base" | "layers-mismatch"; name: string | null; detail: string };
  /** Waivers in scope for this stage and image. Expired or revoked ones may be passed: they are ignored here. */
  waivers: readonly WaiverFact[];
  /** Waivers in scope that do not count for this request, with why: four eyes (granted by its requester or the build's author), or a grantor who may no longer grant them (disabled, out of the waiver group). */
  discountedWaivers?: readonly (WaiverFact & { why: string })[];
  /**
   * Evidence left out of every other fact (scans, findings, VEX, SBOMs, provenance, `evidence`) for this request, with
   * why: four eyes, unsigned and uploaded by its requester or an approver. A failing gate that reads such a kind names
   * them.
   */
  discountedEvidence?: readonly DiscountedEvidenceFact[];
  /**
   * Advisories concerning the image (their package keys meet its components') whose stored version was imported by
   * this request's requester, one of its approvers or the build's author, with why. What such a version says (withdrawn,
   * a lower severity, narrower ranges) is that person's word: the findings gate fails closed while there is one, until
   * another reviewer or the advisory feed imports the advisory.
   */
  discountedAdvisories?: readonly DiscountedAdvisoryFact[];
}

/** An advisory version the findings gate does not judge on for this request (see GateFacts.discountedAdvisories). */
export interface DiscountedAdvisoryFact {
  id: string;
  /** Who imported the stored version, as the advisory records it (actorLabel). */
  importedBy: string;
  why: string;
}

/** What one gate decides, before waivers of the whole gate are applied (see applyGateWaivers). */
export interface GateOutcome {
  passed: boolean;
  detail: string;
  /** Waivers this gate already used itself (the findings gate waives single vulnerability ids). */
  waiverIds?: string[];
  /** For a failing findings gate: every vulnerability id over its limit (the detail names only the first few). */
  failingIds?: string[];
}

export interface GateContext {
  /** The stage's whole parsed configuration: a gate may depend on another's setting (provenance on signedEvidence). */
  config: Readonly<Record<string, unknown>>;
  /** Waivers in scope that have not expired at facts.now. */
  activeWaivers: readonly WaiverFact[];
}

/**
 * One gate: its id (as waivers and results name it), the label the UI shows, the key of its configuration in a
 * stage's `gates` JSON with the zod schema of that value, the facts it reads and a sentence that explains it.
 * A gate whose configuration is absent or `false` is not evaluated and not listed.
 */
export interface GateDefinition<Id extends string = string, Key extends string = string, S extends z.ZodType = z.ZodType> {
  id: Id;
  label: string;
  configKey: Key;
  schema: S;
  facts: readonly (keyof GateFacts)[];
  /**
   * The evidence kinds whose documents this gate reads (scan, sbom, vex, provenance): when it fails, the documents of
   * these kinds that do not count for the request (`discountedEvidence`) are named in its detail.
   */
  evidenceKinds?: readonly string[];
  explanation: string;
  evaluate(config: z.output<S>, facts: GateFacts, ctx: GateContext): GateOutcome;
}

/** Declares a gate with its types inferred from its schema. */
export function defineGate<Id extends string, Key extends string, S extends z.ZodType>(gate: GateDefinition<Id, Key, S>): GateDefinition<Id, Key, S> {
  return gate;
}

/** "a, b, c and 3 more". */
export const listIds = (ids: string[], max = 5) => (ids.length <= max ? ids.join(", ") : `${ids.slice(0, max).join(", ")} and ${ids.length - max} more`);

/** "no scan covers linux/arm64 (a scan names a platform's manifest or config, or the index as a whole), <why>". */
export function uncoveredDetail(platforms: readonly string[], why: string, what = "scan"): string {
  return `no ${what} covers ${listIds([...platforms])} (a ${what} names a platform's manifest or config, or the index as a whole), ${why}`;
}

/** The platforms of an index (facts.index) that no evidence naming one of `subjects` covers; [] for an image. */
export function uncoveredBy(index: GateFacts["index"], subjects: readonly (string | null | undefined)[]): string[] {
  if (!index) return [];
  if (subjects.some((s) => s == null || s === index.digest)) return [];
  return [...new Set(index.platforms.filter((p) => !subjects.some((s) => p.digests.includes(s!))).map((p) => p.name))];
}

/** Glob patterns as trust scopes use them (`*` within a path segment, `**` across). */
export const PATTERN_MAX = 300;

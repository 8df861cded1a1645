import { z } from "zod";
import { matchScope } from "../../signing/trust/identities";
import { defineGate, PATTERN_MAX, uncoveredBy, uncoveredDetail, type ProvenanceFact } from "./types";

const pattern = z.string().min(1).max(PATTERN_MAX);

const matchesAny = (patterns: readonly string[], value: string | null) => value !== null && patterns.some((g) => matchScope(g, value));

/** Whether the key that signed this statement may vouch for the builder id it names (its identity's builder ids). */
export function builderVouched(p: ProvenanceFact): boolean {
  return p.signed === true && matchesAny(p.signerBuilderIds ?? [], p.builderId);
}

/** "builder X is not one that key team-ci (builder) may vouch for (its builder ids: …)". */
function unvouchedDetail(p: ProvenanceFact): string {
  const ids = p.signerBuilderIds ?? [];
  const key = p.signedBy ?? "(unknown)";
  const its =
    p.signerBuilderIds == null ? "the trust identity no longer exists" : ids.length ? `its builder ids: ${ids.join(", ")}` : "it may vouch for no builder id";
  return `builder ${p.builderId ?? "(none)"} is not one that key ${key} (builder) may vouch for (${its})`;
}

/** Why the first usable statement fails the configured patterns. */
function mismatchDetail(p: ProvenanceFact, builderIds: readonly string[], sourceRepos: readonly string[]): string {
  const why: string[] = [];
  if (builderIds.length && !matchesAny(builderIds, p.builderId)) why.push(`builder ${p.builderId ?? "(none)"} matches none of ${builderIds.join(", ")}`);
  if (sourceRepos.length && !matchesAny(sourceRepos, p.sourceRepo)) why.push(`source ${p.sourceRepo ?? "(none)"} matches none of ${sourceRepos.join(", ")}`);
  return why.join("; ");
}

export const provenanceGate = defineGate({
  id: "provenance",
  label: "provenance",
  configKey: "provenance",
  schema: z
    .object({
      /** Glob patterns (`*` within a path segment, `**` across; as trust scopes) the builder id must match; empty = any. */
      builderIds: z.array(pattern).max(50).default([]),
      sourceRepos: z.array(pattern).max(50).default([]),
    })
    .strict(),
  facts: ["provenance", "index"],
  evidenceKinds: ["provenance"],
  explanation:
    "A provenance statement names a builder and a source repository matching the configured patterns; with signed evidence required, only statements signed by a trusted builder count, and only for a builder id that builder's key may vouch for. An index needs such a statement for every platform, or for the index as a whole.",
  evaluate({ builderIds, sourceRepos }, facts, { config }) {
    const builderOk = (p: ProvenanceFact) => builderIds.length === 0 || matchesAny(builderIds, p.builderId);
    const sourceOk = (p: ProvenanceFact) => sourceRepos.length === 0 || matchesAny(sourceRepos, p.sourceRepo);
    // With signed evidence required, only provenance signed by a trusted builder key may satisfy this gate: an unsigned
    // statement is only what its uploader says.
    const signedOnly = config.signedEvidence === true;
    const usable = signedOnly ? facts.provenance.filter((p) => p.signed) : facts.provenance;
    // The builder id in a signed statement is still its signer's claim: a team's CI key could name the release builder.
    // It counts for the stage's builder patterns only when the signing identity is bound to it (its builderIds).
    const bound = signedOnly && builderIds.length > 0;
    const n = facts.provenance.length;
    if (n === 0) return { passed: false, detail: "no provenance has been uploaded or found in the registry" };
    if (usable.length === 0)
      return {
        passed: false,
        detail: `${n} provenance statement${n === 1 ? " is" : "s are"} not signed by a key trusted as builder, and this stage requires signed evidence`,
      };
    const good = usable.filter((p) => builderOk(p) && sourceOk(p) && (!bound || builderVouched(p)));
    const ok = good[0];
    if (ok) {
      // An index runs as any of its platforms: a statement of how one was built says nothing of another, which its
      // index's signature would admit all the same.
      const uncovered = uncoveredBy(
        facts.index,
        good.map((p) => p.subjectDigest),
      );
      if (uncovered.length)
        return { passed: false, detail: uncoveredDetail(uncovered, "so how that platform was built cannot be judged", "provenance statement") };
      return { passed: true, detail: `builder ${ok.builderId ?? "(none)"}, source ${ok.sourceRepo ?? "(none)"}` };
    }
    const unvouched = bound ? usable.find((p) => builderOk(p) && sourceOk(p)) : undefined;
    if (unvouched) return { passed: false, detail: unvouchedDetail(unvouched) };
    return { passed: false, detail: mismatchDetail(usable[0]!, builderIds, sourceRepos) };
  },
});

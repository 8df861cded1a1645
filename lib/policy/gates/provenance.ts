import { z } from "zod";
import { matchScope } from "../../signing/trust/identities";
import { defineGate, PATTERN_MAX, type ProvenanceFact } from "./types";

const pattern = z.string().min(1).max(PATTERN_MAX);

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
  facts: ["provenance"],
  explanation:
    "A provenance statement names a builder and a source repository matching the configured patterns; with signed evidence required, only statements signed by a trusted builder count.",
  evaluate({ builderIds, sourceRepos }, facts, { config }) {
    const builderOk = (p: ProvenanceFact) => builderIds.length === 0 || (p.builderId !== null && builderIds.some((g) => matchScope(g, p.builderId!)));
    const sourceOk = (p: ProvenanceFact) => sourceRepos.length === 0 || (p.sourceRepo !== null && sourceRepos.some((g) => matchScope(g, p.sourceRepo!)));
    // With signed evidence required, only provenance signed by a trusted builder key may satisfy this gate: an unsigned
    // statement is only what its uploader says.
    const usable = config.signedEvidence === true ? facts.provenance.filter((p) => p.signed) : facts.provenance;
    const n = facts.provenance.length;
    if (n === 0) return { passed: false, detail: "no provenance has been uploaded or found in the registry" };
    if (usable.length === 0)
      return {
        passed: false,
        detail: `${n} provenance statement${n === 1 ? " is" : "s are"} not signed by a key trusted as builder, and this stage requires signed evidence`,
      };
    const ok = usable.find((p) => builderOk(p) && sourceOk(p));
    if (ok) return { passed: true, detail: `builder ${ok.builderId ?? "(none)"}, source ${ok.sourceRepo ?? "(none)"}` };
    const p = usable[0]!;
    const why: string[] = [];
    if (builderIds.length && !(p.builderId && builderIds.some((g) => matchScope(g, p.builderId!))))
      why.push(`builder ${p.builderId ?? "(none)"} matches none of ${builderIds.join(", ")}`);
    if (sourceRepos.length && !(p.sourceRepo && sourceRepos.some((g) => matchScope(g, p.sourceRepo!))))
      why.push(`source ${p.sourceRepo ?? "(none)"} matches none of ${sourceRepos.join(", ")}`);
    return { passed: false, detail: why.join("; ") };
  },
});

import { z } from "zod";
import { defineGate } from "./types";

export const signedEvidenceGate = defineGate({
  id: "signedEvidence",
  label: "evidence signed",
  configKey: "signedEvidence",
  /** The evidence used (scans, SBOM, VEX, provenance) must be signed by a key trusted as builder / scanner, not merely uploaded. */
  schema: z.boolean(),
  facts: ["evidence"],
  evidenceKinds: ["scan", "sbom", "vex", "provenance"],
  explanation: "Every scan, SBOM, VEX and provenance statement is signed by a key trusted as builder (provenance) or scanner (the rest), not merely uploaded.",
  evaluate(_on, facts) {
    // Every statement whose content the gates read counts: scans, SBOMs, provenance, and VEX (which can clear findings).
    // Each is a statement of its own (a JSON Lines upload is stored line by line), so one signed line hides no other.
    const relevant = facts.evidence.filter((e) => e.kind === "scan" || e.kind === "sbom" || e.kind === "provenance" || e.kind === "vex");
    const unsigned = relevant.filter((e) => e.signatureStatus !== "signed");
    if (relevant.length === 0) return { passed: false, detail: "no scan, SBOM, VEX or provenance to judge" };
    if (unsigned.length) {
      return {
        passed: false,
        detail: `${unsigned.length} of ${relevant.length} documents are not signed by a key trusted as builder (provenance) or scanner (the rest) (${[...new Set(unsigned.map((e) => `${e.kind} ${e.signatureStatus}`))].join(", ")})`,
      };
    }
    return { passed: true, detail: `all ${relevant.length} documents signed (${[...new Set(relevant.map((e) => e.signedBy ?? "?"))].join(", ")})` };
  },
});

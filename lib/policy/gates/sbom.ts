import { z } from "zod";
import { defineGate, uncoveredDetail } from "./types";

export const sbomGate = defineGate({
  id: "sbom",
  label: "SBOM present",
  configKey: "sbom",
  schema: z.boolean(),
  facts: ["sbomCount", "sbomUncoveredPlatforms"],
  evidenceKinds: ["sbom"],
  explanation:
    "At least one SBOM (CycloneDX or SPDX) was uploaded or found in the registry. An index needs an SBOM of every platform, or of the index as a whole.",
  evaluate(_on, facts) {
    const n = facts.sbomCount;
    if (n === 0) return { passed: false, detail: "no SBOM has been uploaded or found in the registry" };
    // An index runs as any of its platforms: an SBOM of one (buildx writes one per platform) says nothing of another.
    const uncovered = facts.sbomUncoveredPlatforms ?? [];
    if (uncovered.length) return { passed: false, detail: uncoveredDetail(uncovered, "so what that platform contains is not described", "SBOM") };
    return { passed: true, detail: `${n} SBOM document${n === 1 ? "" : "s"}` };
  },
});

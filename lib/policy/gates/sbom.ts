import { z } from "zod";
import { defineGate } from "./types";

export const sbomGate = defineGate({
  id: "sbom",
  label: "SBOM present",
  configKey: "sbom",
  schema: z.boolean(),
  facts: ["sbomCount"],
  evidenceKinds: ["sbom"],
  explanation: "At least one SBOM (CycloneDX or SPDX) was uploaded or found in the registry.",
  evaluate(_on, facts) {
    const n = facts.sbomCount;
    return { passed: n > 0, detail: n > 0 ? `${n} SBOM document${n === 1 ? "" : "s"}` : "no SBOM has been uploaded or found in the registry" };
  },
});

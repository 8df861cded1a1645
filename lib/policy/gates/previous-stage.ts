import { z } from "zod";
import { defineGate } from "./types";

export const previousStageGate = defineGate({
  id: "previousStage",
  label: "previous stage signed",
  configKey: "previousStage",
  /** The previous stage's signature must be present and verify. */
  schema: z.boolean(),
  facts: ["previousStage"],
  explanation: "The previous stage of the pipeline approved this digest and its signature verifies (the first stage passes).",
  evaluate(_on, facts) {
    const p = facts.previousStage;
    if (!p) return { passed: true, detail: "this is the first stage" };
    return { passed: p.state === "approved", detail: p.state === "approved" ? `${p.name}: ${p.detail}` : `${p.name} is ${p.state}: ${p.detail}` };
  },
});

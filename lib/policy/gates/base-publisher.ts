import { z } from "zod";
import { defineGate } from "./types";

export const basePublisherGate = defineGate({
  id: "basePublisher",
  label: "base image publisher signature",
  configKey: "basePublisher",
  /** The base image's publisher signature must verify. */
  schema: z.boolean(),
  facts: ["base"],
  explanation: "The base image is known, its layers match, and its publisher's signature verifies.",
  evaluate(_on, facts) {
    return { passed: facts.base.state === "verified", detail: facts.base.detail };
  },
});

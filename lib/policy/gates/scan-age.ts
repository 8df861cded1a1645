import { z } from "zod";
import { defineGate, uncoveredDetail } from "./types";

export const scanAgeGate = defineGate({
  id: "scanAge",
  label: "scan age",
  configKey: "maxScanAgeHours",
  /** The newest scan must be at most this many hours old. */
  schema: z
    .number()
    .int()
    .min(1)
    .max(24 * 365),
  facts: ["newestScanAt", "uncoveredPlatforms", "now"],
  evidenceKinds: ["scan"],
  explanation: "The newest vulnerability scan is at most the configured number of hours old; for an index, the newest scan of each platform.",
  evaluate(limit, facts) {
    const uncovered = facts.uncoveredPlatforms ?? [];
    if (uncovered.length) return { passed: false, detail: uncoveredDetail(uncovered, `and each platform's newest scan must be at most ${limit} h old`) };
    if (!facts.newestScanAt) return { passed: false, detail: `no scan; the newest scan must be at most ${limit} h old` };
    const ageH = (facts.now.getTime() - facts.newestScanAt.getTime()) / 3_600_000;
    const shown = ageH < 1 ? `${Math.round(ageH * 60)} min` : `${ageH.toFixed(1)} h`;
    return { passed: ageH <= limit, detail: `newest scan ${facts.newestScanAt.toISOString()} is ${shown} old; at most ${limit} h allowed` };
  },
});

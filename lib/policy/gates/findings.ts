import { z } from "zod";
import { defineGate, GATE_SEVERITIES, listIds, uncoveredDetail, type GateSeverity } from "./types";

export const findingsGate = defineGate({
  id: "findings",
  label: "vulnerability findings",
  configKey: "findings",
  schema: z
    .object({
      /** Maximum findings per severity, e.g. { critical: 0, high: 3 }. A severity left out is not limited. */
      max: z
        .object(
          Object.fromEntries(GATE_SEVERITIES.map((s) => [s, z.number().int().min(0).max(100_000).optional()])) as Record<
            GateSeverity,
            z.ZodOptional<z.ZodNumber>
          >,
        )
        .strict(),
      /** "fixable": count only findings with a fix available; "all": count every applicable finding. */
      count: z.enum(["fixable", "all"]).default("all"),
    })
    .strict(),
  facts: ["findings", "findingsTruncated", "scanCount", "uncoveredPlatforms", "waivers", "discountedAdvisories"],
  evidenceKinds: ["scan", "vex"],
  explanation:
    "At most the configured number of applicable findings per severity (VEX already applied); a waiver may cover single vulnerability ids. An index needs a scan of every platform, or of the index as a whole. An advisory of the image last imported by the requester, an approver or the build's author fails it (four eyes).",
  evaluate({ max, count }, facts, { activeWaivers }) {
    const vulnWaivers = activeWaivers.filter((w) => w.gate === "findings" && w.vulnIds.length > 0);
    const waivedBy = new Map<string, string>();
    for (const w of vulnWaivers) for (const id of w.vulnIds) if (!waivedBy.has(id)) waivedBy.set(id, w.id);
    const counted = facts.findings.filter((f) => count === "all" || f.fixAvailable);
    const used = new Set<string>();
    const failures: string[] = [];
    const failingIds: string[] = [];
    const summary: string[] = [];
    let waivedCount = 0;
    for (const sev of GATE_SEVERITIES) {
      const limit = max[sev];
      if (limit === undefined) continue;
      const ids = [...new Set(counted.filter((f) => f.severity === sev).map((f) => f.vulnId))].sort();
      const open = ids.filter((id) => {
        const w = waivedBy.get(id);
        if (!w) return true;
        used.add(w);
        waivedCount++;
        return false;
      });
      const what = `${sev} findings${count === "fixable" ? " with a fix" : ""}`;
      if (open.length > limit) {
        failures.push(`${what} ${open.length} > ${limit} allowed: ${listIds(open)}`);
        failingIds.push(...open);
      } else summary.push(`${what} ${open.length} ≤ ${limit}`);
    }
    const waivedNote = waivedCount ? ` (${waivedCount} waived by ${[...used].length} waiver${used.size === 1 ? "" : "s"})` : "";
    // A gate that cannot be judged still names the findings over a limit that it did read (advisory matches on the
    // SBOM, say): a break glass over it overrides only those its confirmation listed (found by review: an early return
    // named none, so a high matched after the page was shown was signed over unseen).
    const over = failures.length ? { detail: `; ${failures.join("; ")}`, failingIds } : { detail: "" };
    if (facts.scanCount === 0)
      return { passed: false, ...over, detail: `no vulnerability scan has been uploaded, so the findings limits cannot be judged${over.detail}` };
    // An index runs as any of its platforms: findings of the scanned ones say nothing about the others.
    const uncovered = facts.uncoveredPlatforms ?? [];
    if (uncovered.length)
      return { passed: false, ...over, detail: `${uncoveredDetail(uncovered, "so the findings limits cannot be judged for it")}${over.detail}` };
    if (facts.findingsTruncated)
      return {
        passed: false,
        ...over,
        detail: `more than ${facts.findingsTruncated.limit.toLocaleString("en-US")} finding rows for this image, more than a judgement reads, so the findings limits cannot be judged (withdraw superseded scans)${over.detail}`,
      };
    // Four eyes on advisories: the findings are matched on a record a person this gate checks stored last, so they
    // may be that person's word (a withdrawal, a lower severity, narrower ranges). Failing closed costs nothing when
    // their record only adds findings, which fail the gate anyway.
    const own = facts.discountedAdvisories ?? [];
    if (own.length) {
      const named = own.slice(0, 3).map((a) => `advisory ${a.id} was last imported by ${a.importedBy}, ${a.why}`);
      const more = own.length > 3 ? `; and ${own.length - 3} more advisor${own.length - 3 === 1 ? "y" : "ies"} for the same reason` : "";
      return {
        passed: false,
        detail: `${named.join("; ")}${more}: the findings limits cannot be judged on their word (four eyes: another reviewer or the advisory feed must import ${own.length === 1 ? "it" : "them"})${failures.length ? `; ${failures.join("; ")}` : ""}`,
        waiverIds: [...used],
        ...(failures.length ? { failingIds } : {}),
      };
    }
    if (failures.length) return { passed: false, detail: failures.join("; ") + waivedNote, waiverIds: [...used], failingIds };
    return { passed: true, detail: (summary.join(", ") || "no limits set") + waivedNote, waiverIds: [...used] };
  },
});

import "server-only";
import { db } from "../../db";
import type { GateConfig } from "../../policy/gates";
import { type Actor } from "../actor";
import { JsonColumnError } from "../json-columns";
import { stageGates } from "./stage-gates";

export interface StageListEntry {
  name: string;
  position: number;
  requiredApprovals: number;
  reviewerGroups: string[];
  waiverGroup: string | null;
  /** null when the stored gates are unreadable: approvals at this stage then fail closed, and `gatesError` says why. */
  gates: GateConfig | null;
  gatesError: string | null;
  keyBackend: string;
  emitBundle: boolean;
  approvalTtlDays: number | null;
  onRegression: string;
  regressionGraceHours: number;
  key: { name: string; fingerprint: string } | null;
}

/**
 * Every stage in order, in one query. A stage whose stored gates no longer parse is listed with `gates: null` and the
 * reason, rather than failing the whole list: the Stages page is where an admin sets them again. (Approving at that
 * stage still fails closed, see stage-gates.ts.)
 */
export async function listStages(_: { actor: Actor }): Promise<StageListEntry[]> {
  const rows = await db.stage.findMany({
    orderBy: { position: "asc" },
    include: {
      reviewerGroups: { include: { group: { select: { name: true } } } },
      waiverGroup: { select: { name: true } },
      keys: { where: { revokedAt: null }, orderBy: { createdAt: "desc" }, take: 1, select: { name: true, fingerprint: true } },
    },
  });
  return rows.map((s) => {
    let gates: GateConfig | null = null;
    let gatesError: string | null = null;
    try {
      gates = stageGates(s);
    } catch (e) {
      if (!(e instanceof JsonColumnError)) throw e;
      gatesError = e.message;
    }
    return {
      name: s.name,
      position: s.position,
      requiredApprovals: s.requiredApprovals,
      reviewerGroups: s.reviewerGroups.map((g) => g.group.name),
      waiverGroup: s.waiverGroup?.name ?? null,
      gates,
      gatesError,
      keyBackend: s.keyBackend,
      emitBundle: s.emitBundle,
      approvalTtlDays: s.approvalTtlDays,
      onRegression: s.onRegression,
      regressionGraceHours: s.regressionGraceHours,
      key: s.keys[0] ?? null,
    };
  });
}

import "server-only";
import { db } from "../../db";
import { blockingReasons, evaluateGates } from "../../policy/gates";
import type { Actor } from "../actor";
import { revokeApproval } from "../approvals/revoke-approval";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { stageGates } from "../stages/stage-gates";

const SYSTEM: Actor = { kind: "system", label: "reevaluation" };

/**
 * Stages with onRegression "revoke-after": an approval at risk past its grace period is revoked, unless its gates
 * hold again right now (a waiver granted in time, a fix, a VEX statement), which is checked first. A stage switched
 * back to "flag" meanwhile revokes nothing.
 */
export async function revokeRegressedApprovals({ actor = SYSTEM, now = new Date(), limit = 100 }: { actor?: Actor; now?: Date; limit?: number } = {}): Promise<{
  revoked: number;
  spared: number;
}> {
  const due = await db.stageRisk.findMany({ where: { revokeAt: { lte: now } }, orderBy: { revokeAt: "asc" }, take: limit });
  let revoked = 0;
  let spared = 0;
  for (const r of due) {
    const stage = await db.stage.findUnique({ where: { id: r.stageId }, select: { id: true, name: true, gates: true, onRegression: true } });
    if (!stage || stage.onRegression !== "revoke-after") {
      await db.stageRisk.update({ where: { id: r.id }, data: { revokeAt: null } });
      spared++;
      continue;
    }
    // Four eyes as at review time: a waiver granted by the approval's requester does not spare it.
    const approval = await db.approval.findUnique({ where: { id: r.approvalId }, select: { request: { select: { requesterId: true } } } });
    const requesterId = approval?.request?.requesterId ?? null;
    const reasons = blockingReasons(evaluateGates(stageGates(stage), await gatherGateFacts(db, { imageId: r.imageId, stageId: r.stageId, now, requesterId })));
    if (!reasons.length) {
      await db.stageRisk.deleteMany({ where: { id: r.id } });
      spared++;
      continue;
    }
    await revokeApproval({
      approvalId: r.approvalId,
      actor,
      source: "regression",
      reason: `gates of ${stage.name} no longer hold since ${r.since.toISOString()} and were not waived within the grace period: ${reasons.join("; ")}`.slice(
        0,
        1000,
      ),
    });
    await db.stageRisk.deleteMany({ where: { id: r.id } });
    revoked++;
  }
  return { revoked, spared };
}

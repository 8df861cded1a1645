import "server-only";
import { db } from "../../db";
import { blockingReasons, evaluateGates } from "../../policy/gates";
import type { Actor } from "../actor";
import { revokeApproval } from "../approvals/revoke-approval";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { stageGates } from "../stages/stage-gates";
import { quorumReasons } from "./approval-quorum";

const SYSTEM: Actor = { kind: "system", label: "reevaluation" };

/**
 * Stages with onRegression "revoke-after": an approval at risk past its grace period is revoked, unless it holds again
 * right now (its quorum, and its gates: a waiver granted in time, a fix, a VEX statement), which is checked first. A stage switched
 * back to "flag" meanwhile revokes nothing.
 */
export async function revokeRegressedApprovals({ actor = SYSTEM, now = new Date(), limit = 100 }: { actor?: Actor; now?: Date; limit?: number } = {}): Promise<{
  revoked: number;
  spared: number;
  /** Rows whose revocation failed this time (logged; tried again at the next run). */
  failed?: number;
}> {
  // Due by the database's clock as well as the caller's: verify and ImageReview deny from revoke_at by the database's
  // clock (stage_decision), and a replica whose clock runs ahead must not revoke (for good) an approval they still admit.
  const due = await db.$queryRaw<{ id: string; approvalId: string; imageId: string; stageId: string; since: Date }[]>`
    SELECT id, approval_id AS "approvalId", image_id AS "imageId", stage_id AS "stageId", since FROM stage_risks
    WHERE revoke_at <= LEAST(${now}::timestamptz, statement_timestamp())
    ORDER BY revoke_at, id LIMIT ${limit}`;
  let revoked = 0;
  let spared = 0;
  let failed = 0;
  // Each row on its own: one that throws must not stall the rest (the same row would come first again every run).
  for (const r of due) {
    try {
      const outcome = await settleRisk(r, { actor, now });
      if (outcome === "revoked") revoked++;
      else spared++;
    } catch (e) {
      failed++;
      console.error(`[revoke-after] approval ${r.approvalId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return failed ? { revoked, spared, failed } : { revoked, spared };
}

/** C0 controls and DEL, which a revocation reason may not hold; gate details quote registry and scanner data. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

/**
 * Why the approval's gates still fail, or null when they hold again. Four eyes as at review time: a waiver granted by
 * the approval's requester or one of its approvers does not spare it. Gates that cannot be judged now (an unreadable
 * stored row) throw: the row is left for re-evaluation to flag, and verify keeps denying it meanwhile ("revocation
 * due", stage_decision), so nothing is admitted on it either way.
 */
async function gatesReason(
  r: { approvalId: string; imageId: string; stageId: string; since: Date },
  stage: { id: string; name: string; gates: unknown },
  now: Date,
): Promise<string | null> {
  const approval = await db.approval.findUnique({
    where: { id: r.approvalId },
    select: { request: { select: { requesterId: true, reviews: { where: { decision: "approve" }, select: { reviewerId: true } } } } },
  });
  const requesterId = approval?.request?.requesterId ?? null;
  const approverIds = approval?.request?.reviews.map((v) => v.reviewerId) ?? [];
  const reasons = blockingReasons(
    evaluateGates(stageGates(stage), await gatherGateFacts(db, { imageId: r.imageId, stageId: r.stageId, now, requesterId, approverIds })),
  );
  if (!reasons.length) return null;
  return `gates of ${stage.name} no longer hold since ${r.since.toISOString()} and were not waived within the grace period: ${reasons.join("; ")}`;
}

async function settleRisk(
  r: { id: string; approvalId: string; imageId: string; stageId: string; since: Date },
  { actor, now }: { actor: Actor; now: Date },
): Promise<"revoked" | "spared"> {
  const stage = await db.stage.findUnique({ where: { id: r.stageId }, select: { id: true, name: true, gates: true, onRegression: true } });
  if (!stage || stage.onRegression !== "revoke-after") {
    await db.stageRisk.update({ where: { id: r.id }, data: { revokeAt: null } });
    return "spared";
  }
  // The quorum first (approval-quorum.ts): an approval with fewer approvers that count than the stage requires now is
  // revoked whatever its gates say, and a waiver cannot make up for a missing approver.
  const quorum = (await quorumReasons(db, [r.approvalId])).get(r.approvalId);
  const reason = quorum
    ? `the approval of ${stage.name} no longer has the approvals the stage requires since ${r.since.toISOString()}, and it was not restored within the grace period: ${quorum.join("; ")}`
    : await gatesReason(r, stage, now);
  if (reason === null) {
    await db.stageRisk.deleteMany({ where: { id: r.id } });
    return "spared";
  }
  await revokeApproval({ approvalId: r.approvalId, actor, source: "regression", reason: reason.replace(CONTROL, "\ufffd").slice(0, 1000) });
  await db.stageRisk.deleteMany({ where: { id: r.id } });
  return "revoked";
}

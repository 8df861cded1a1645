import "server-only";
import { db, type Tx } from "../../db";

export type ReevaluationTrigger =
  "evidence" | "advisory" | "waiver" | "trust" | "scan-age" | "stage" | "manual" | "grantor" | "revocation" | "expiry" | "approver";

/**
 * Asks for the approved stages of these images (none given: of every image) to be judged again. Written in the
 * caller's transaction when there is one, so the request exists exactly when the change that caused it committed;
 * the re-evaluation worker (reevaluateApprovals) drains the requests.
 */
export async function requestReevaluation(
  tx: Tx | typeof db,
  { trigger, imageIds }: { trigger: ReevaluationTrigger; imageIds?: readonly string[] },
): Promise<void> {
  if (imageIds && !imageIds.length) return;
  if (!imageIds) {
    await tx.reevaluationRequest.create({ data: { imageId: null, trigger } });
    return;
  }
  const ids = [...new Set(imageIds)];
  for (let i = 0; i < ids.length; i += 10_000) {
    await tx.$executeRaw`INSERT INTO reevaluation_requests (image_id, trigger) SELECT u, ${trigger} FROM unnest(${ids.slice(i, i + 10_000)}::uuid[]) AS u`;
  }
}

/** requestReevaluation outside a transaction, then a nudge to the worker so it does not wait for the next tick. */
export async function enqueueReevaluation(opts: { trigger: ReevaluationTrigger; imageIds?: readonly string[] }): Promise<void> {
  await requestReevaluation(db, opts);
  await kickReevaluation();
}

/** Best effort: the scheduler tick drains the requests anyway within a minute. */
export async function kickReevaluation(): Promise<void> {
  try {
    const { getBoss, QUEUES } = await import("../jobs/boss");
    const boss = await getBoss();
    await boss.send(QUEUES.reevaluate, {}, { singletonKey: "reevaluate", singletonSeconds: 2 });
  } catch (e) {
    console.error("[reevaluate] could not queue the job; the scheduler tick will run it:", (e as Error).message);
  }
}

/** Re-evaluation of the approved images a waiver covers (its repository, or one digest in it). */
export async function requestReevaluationInScope(tx: Tx, { repositoryId, digest }: { repositoryId: string; digest: string | null }): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO reevaluation_requests (image_id, trigger)
    SELECT DISTINCT a.image_id, 'waiver' FROM approvals a JOIN images i ON i.id = a.image_id
    WHERE i.repository_id = ${repositoryId}::uuid AND (${digest}::text IS NULL OR i.digest = ${digest}) AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL`;
}

/**
 * Re-evaluation of the approved images that active waivers granted by these accounts cover, for the stage each waiver
 * is for: their standing changed (disabled, enabled, role, waiver-group membership), and a waiver counts only while its
 * grantor may grant it (gather-gate-facts.ts), so an approval that stood thanks to one is judged again.
 */
export async function requestReevaluationForGrantors(tx: Tx, { userIds, now = new Date() }: { userIds: readonly string[]; now?: Date }): Promise<void> {
  if (!userIds.length) return;
  await tx.$executeRaw`
    INSERT INTO reevaluation_requests (image_id, trigger)
    SELECT DISTINCT a.image_id, 'grantor'
    FROM waivers w
    JOIN images i ON i.repository_id = w.repository_id AND (w.digest IS NULL OR i.digest = w.digest)
    JOIN approvals a ON a.image_id = i.id AND a.stage_id = w.stage_id AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL
    WHERE w.granted_by_id = ANY(${[...new Set(userIds)]}::uuid[]) AND w.revoked_at IS NULL AND w.expires_at > ${now}`;
}

/**
 * Re-evaluation of the approved images whose standing approval one of these accounts approved: their standing changed
 * (disabled, enabled, role, reviewer-group membership), and an approval counts towards its stage's N only while its
 * approver may approve (approval-quorum.ts). With `groupId`, only the approvals of stages that group reviews (a
 * membership change of that group changes nothing elsewhere).
 */
export async function requestReevaluationForApprovers(
  tx: Tx,
  { userIds, groupId = null }: { userIds: readonly string[]; groupId?: string | null },
): Promise<void> {
  if (!userIds.length) return;
  await tx.$executeRaw`
    INSERT INTO reevaluation_requests (image_id, trigger)
    SELECT DISTINCT a.image_id, 'approver'
    FROM reviews v
    JOIN approvals a ON a.request_id = v.request_id AND a.status IN ('signed', 'signing') AND a.revoked_at IS NULL
    WHERE v.reviewer_id = ANY(${[...new Set(userIds)]}::uuid[]) AND v.decision = 'approve'
      AND (${groupId}::uuid IS NULL OR EXISTS (SELECT 1 FROM stage_reviewer_groups sg WHERE sg.stage_id = a.stage_id AND sg.group_id = ${groupId}::uuid))`;
}

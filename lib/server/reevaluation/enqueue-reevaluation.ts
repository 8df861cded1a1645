import "server-only";
import { db, type Tx } from "../../db";

export type ReevaluationTrigger = "evidence" | "advisory" | "waiver" | "trust" | "scan-age" | "stage" | "manual";

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
    WHERE i.repository_id = ${repositoryId}::uuid AND (${digest}::text IS NULL OR i.digest = ${digest}) AND a.status = 'signed' AND a.revoked_at IS NULL`;
}

import "server-only";
import { db } from "../../db";
import { isAppError } from "../../errors";
import type { Actor } from "../actor";
import { removeRevokedSignatures } from "./remove-revoked-signatures";

/**
 * Retries revocations still "pending" in the registry (it was down, or a bundle was recorded during the revocation, or
 * a removed signature reappeared), one `.sig` rewrite per image, fewest failed attempts first, then oldest: each
 * failure counts an attempt, so revocations that cannot finish (a registry gone for good, a `.sig` tag holding an
 * index) go to the back and cannot take every slot from the others, such as a revoked signature someone put back.
 * One image that fails does not stop the rest. Called by the scheduler tick.
 */
export async function completePendingRevocations({ actor, limit = 20 }: { actor: Actor; limit?: number }) {
  const rows = await db.$queryRaw<{ image_id: string }[]>`
    SELECT image_id FROM approvals WHERE revoked_at IS NOT NULL AND revocation_state = 'pending'
    GROUP BY image_id ORDER BY max(attempts), min(revoked_at) LIMIT ${limit}`;
  let removed = 0;
  let stillPending = 0;
  let failed = 0;
  for (const r of rows) {
    let out;
    try {
      out = await removeRevokedSignatures({ imageId: r.image_id, actor });
    } catch (e) {
      if (!isAppError(e)) throw e;
      failed++;
      console.error(`[revocations] image ${r.image_id}: ${e.message}`);
      continue;
    }
    for (const a of out.approvals)
      if (a.state === "removed") removed++;
      else stillPending++;
  }
  return failed ? { images: rows.length, removed, stillPending, failed } : { images: rows.length, removed, stillPending };
}

import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { removeRevokedSignatures } from "./remove-revoked-signatures";

/**
 * Retries revocations still "pending" in the registry (it was down, or a bundle was recorded during the revocation),
 * one `.sig` rewrite per image, oldest first. Called by the scheduler tick.
 */
export async function completePendingRevocations({ actor, limit = 20 }: { actor: Actor; limit?: number }) {
  const rows = await db.$queryRaw<{ image_id: string }[]>`
    SELECT image_id FROM approvals WHERE revoked_at IS NOT NULL AND revocation_state = 'pending'
    GROUP BY image_id ORDER BY min(revoked_at) LIMIT ${limit}`;
  let removed = 0;
  let stillPending = 0;
  for (const r of rows) {
    const out = await removeRevokedSignatures({ imageId: r.image_id, actor });
    for (const a of out.approvals)
      if (a.state === "removed") removed++;
      else stillPending++;
  }
  return { images: rows.length, removed, stillPending };
}

import "server-only";
import { db, Prisma } from "../../db";
import type { Actor } from "../actor";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { recordRevocation } from "./record-revocation";
import { removeRevokedSignatures } from "./remove-revoked-signatures";

const EXPIRY: Actor = { kind: "system", label: "expiry" };

type Due = { id: string; image_id: string };

/**
 * The instant judged: the tick's `now`, but never later than the database's clock, which is what verify and ImageReview
 * judge expiry by (stage_decision). A replica whose clock runs ahead must not retire an approval that still counts:
 * retiring is for good.
 */
const judgedAt = (now: Date) => Prisma.sql`LEAST(${now}::timestamptz, statement_timestamp())`;

/**
 * Approvals past their stage's TTL (approval_expiry(), the definition verify uses), oldest expiry first. Both states
 * count: a signature still pending ("signing") must not be pushed once its approval has expired.
 */
async function dueApprovals(now: Date, limit: number): Promise<Due[]> {
  return db.$queryRaw<Due[]>`
    SELECT a.id, a.image_id FROM approvals a JOIN stages s ON s.id = a.stage_id
    WHERE s.approval_ttl_days IS NOT NULL AND a.revoked_at IS NULL
      AND approval_expiry(a.ages_from, s.approval_ttl_days) <= ${judgedAt(now)}
    ORDER BY approval_expiry(a.ages_from, s.approval_ttl_days), a.id
    LIMIT ${limit}`;
}

/**
 * Retires one expired approval: under its row lock, judged expired again (the stage's TTL may have been lifted or
 * lengthened, or the approval revoked, since the list was read), then revoked with source "expiry", its reason the
 * same words verify gives. Returns the image whose signatures are to come off the registry, or null.
 */
async function retireOne(id: string, now: Date, actor: Actor): Promise<string | null> {
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<{ image_id: string; stage: string; ttl: number; ages_from: Date; trusted_at: Date; by_tsa: boolean; expiry: Date }[]>`
      SELECT a.image_id, s.name AS stage, s.approval_ttl_days AS ttl, a.ages_from, a.trusted_at, a.trusted_by = 'tsa' AS by_tsa,
             approval_expiry(a.ages_from, s.approval_ttl_days) AS expiry
      FROM approvals a JOIN stages s ON s.id = a.stage_id
      WHERE a.id = ${id}::uuid AND a.revoked_at IS NULL AND s.approval_ttl_days IS NOT NULL
        AND approval_expiry(a.ages_from, s.approval_ttl_days) <= ${judgedAt(now)}
      FOR UPDATE OF a`;
    if (!row) return null;
    const decided = row.ages_from < row.trusted_at ? `, decided ${row.ages_from.toISOString()}` : "";
    const reason =
      `approval expired: approved ${row.trusted_at.toISOString()} (${row.by_tsa ? "time trusted by the TSA" : "Imprimatur's record"}${decided}); ` +
      `stage ${row.stage} approvals last ${row.ttl} day${row.ttl === 1 ? "" : "s"} from the decision, so it expired ${row.expiry.toISOString()}; ` +
      `its signature is taken out of the registry so that no cluster policy admits it; request the promotion again`;
    const { record } = await recordRevocation(tx, { approvalId: id, actor, reason, source: "expiry" });
    return record.alreadyRevoked ? null : row.image_id;
  });
}

/**
 * An approval that expired under its stage's TTL is revoked (source "expiry"), so that its stage signature leaves the
 * registry as a revoked one does: verify and ImageReview deny it from the instant it expires (stage_decision), and
 * this makes the generated cluster policies (Kyverno, policy-controller, the cosign script), which only check that a
 * stage signature verifies, stop admitting it too. Run by the scheduler tick (every minute); each approval in its own
 * transaction, so one that fails does not stall the rest. Lifting or lengthening the TTL later does not bring a retired
 * approval back: renewing is a new request. A registry that is down leaves the removal pending, retried by
 * completePendingRevocations.
 */
export async function retireExpiredApprovals({ now = new Date(), limit = 100, actor = EXPIRY }: { now?: Date; limit?: number; actor?: Actor } = {}) {
  const due = await dueApprovals(now, limit);
  const images = new Set<string>();
  let retired = 0;
  let failed = 0;
  for (const d of due) {
    try {
      const imageId = await retireOne(d.id, now, actor);
      if (imageId) {
        retired++;
        images.add(imageId);
      }
    } catch (e) {
      failed++;
      console.error(`[expiry] approval ${d.id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (images.size) kickWebhooks();
  let pending = 0;
  // One `.sig` rewrite per image for all its retired approvals.
  for (const imageId of images) {
    try {
      const out = await removeRevokedSignatures({ imageId, actor });
      pending += out.approvals.filter((a) => a.state === "pending").length;
    } catch (e) {
      failed++;
      console.error(`[expiry] removing signatures of image ${imageId}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { retired, images: images.size, pending, failed };
}

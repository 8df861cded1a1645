import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Digest } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { findOrStoreImage } from "../images/find-or-store-image";
import { emitEvent } from "../webhooks/emit-event";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { PROMOTION_REQUEST_LOCK_NAME } from "../advisory-locks";

export interface RequestPromotionOptions {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
  stage: string;
  note: string;
}

/**
 * A developer asks for a digest to be promoted to a stage. One open request per digest and stage: asking again
 * returns the open one. Reviewers of the stage's groups see it in their inbox and by webhook.
 */
export async function requestPromotion({ actor, registry, repository, digest, stage: stageName, note }: RequestPromotionOptions) {
  requireRole(actor, ["developer", "reviewer", "admin"], "requesting a promotion");
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "promotion requests are made by a user (session or API token)");
  const stage = await db.stage.findUnique({ where: { name: stageName } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  const { registry: reg, image } = await findOrStoreImage({ registry, repository, digest });
  if (image.deletedAt) throw new AppError("POLICY_VIOLATION", `${digest} was deleted from the registry`);

  const result = await db.$transaction(async (tx) => {
    // Serialize requests for one digest and stage, so two clicks cannot open two requests.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${PROMOTION_REQUEST_LOCK_NAME}), hashtext(${`${image.id}/${stage.id}`}))`;
    const open = await tx.promotionRequest.findFirst({
      where: { imageId: image.id, stageId: stage.id, status: { in: ["open", "approved", "signed"] } },
      orderBy: { createdAt: "desc" },
      include: { approval: { select: { id: true, revokedAt: true, revocationSource: true } } },
    });
    // Expired: by the one definition of an approval's expiry (approval_expiry() from approvals.ages_from, in SQL).
    const [expiry] = open?.approval
      ? await tx.$queryRaw<{ expired: boolean }[]>`
          SELECT COALESCE(approval_expiry(a.ages_from, s.approval_ttl_days) <= now(), false) AS expired
          FROM approvals a JOIN stages s ON s.id = a.stage_id WHERE a.id = ${open.approval.id}::uuid`
      : [];
    // A request whose approval was revoked or has expired is history: renewing is a new request, reviewed again
    // against the evidence that hangs off the digest (the previous evidence included).
    const renews = open?.approval && (open.approval.revokedAt || expiry?.expired) ? open : null;
    if (open && !renews) return { id: open.id, status: open.status, created: false };
    const row = await tx.promotionRequest.create({ data: { imageId: image.id, stageId: stage.id, requesterId: actor.id, note: note.trim(), status: "open" } });
    const target = `${reg.name}/${repository}`;
    await appendAuditEvent(tx, {
      actor,
      action: "request.create",
      targetDigest: digest,
      target,
      detail: {
        requestId: row.id,
        stage: stage.name,
        note: row.note,
        ...(renews
          ? {
              renews: renews.id,
              previousApproval: renews.approval!.id,
              because: renews.approval!.revokedAt && renews.approval!.revocationSource !== "expiry" ? "revoked" : "expired",
            }
          : {}),
      },
    });
    await emitEvent(tx, "request.created", {
      requestId: row.id,
      stage: stage.name,
      digest,
      repository: target,
      requester: actor.email,
      note: row.note,
      requiredApprovals: stage.requiredApprovals,
    });
    return { id: row.id, status: row.status, created: true };
  });
  if (result.created) kickWebhooks();
  return result;
}

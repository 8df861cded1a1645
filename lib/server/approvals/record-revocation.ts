import "server-only";
import type { Tx } from "../../db";
import { AppError } from "../../errors";
import { actorLabel, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import type { RevocationRecord, RevocationSource } from "./revoke-approval";

/**
 * Records one approval's revocation in the caller's transaction (row lock, authorization, the record, its audit event
 * and the `approval.revoked` webhook). Returns the existing revocation when it is already revoked. The registry
 * removal is left "pending": call removeRevokedSignatures after the commit (or let the scheduler tick do it).
 * For callers that revoke several approvals atomically (a key compromise, a bulk revocation); `reason` is checked by
 * revokeApproval, callers here pass their own.
 */
/** Locks the approval row (concurrent revocations of one approval serialize here) and checks the actor may revoke it. */
async function lockApproval(tx: Tx, approvalId: string, actor: Actor) {
  const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM approvals WHERE id = ${approvalId}::uuid FOR UPDATE`;
  if (locked.length === 0) throw new AppError("NOT_FOUND", "no such approval");
  const a = await tx.approval.findUniqueOrThrow({
    where: { id: approvalId },
    include: {
      image: { include: { repository: { include: { registry: true } } } },
      stage: { include: { reviewerGroups: { include: { group: { select: { id: true, name: true } } } } } },
    },
  });
  // A reviewer may take back only what their stage's groups could have given (with no groups, any reviewer approves).
  if (actor.kind === "user" && actor.role === "reviewer") {
    const groups = a.stage.reviewerGroups.map((g) => g.group);
    const member =
      groups.length === 0 ||
      (await tx.groupMember.findFirst({ where: { userId: actor.id, groupId: { in: groups.map((g) => g.id) } }, select: { groupId: true } }));
    if (!member)
      throw new AppError("FORBIDDEN", `stage ${a.stage.name} is reviewed by group ${groups.map((g) => g.name).join(" or ")}, and you are not a member`);
  }
  return a;
}

export async function recordRevocation(
  tx: Tx,
  { approvalId, actor, reason: text, source }: { approvalId: string; actor: Actor; reason: string; source: RevocationSource },
): Promise<{ record: RevocationRecord; imageId: string }> {
  if (actor.kind === "user" && actor.role !== "admin" && actor.role !== "reviewer") {
    throw new AppError("FORBIDDEN", `revoking an approval needs role reviewer (in the stage's reviewer groups) or admin; you are ${actor.role}`);
  }
  const a = await lockApproval(tx, approvalId, actor);
  const repository = `${a.image.repository.registry.name}/${a.image.repository.name}`;
  const shape = (
    alreadyRevoked: boolean,
    x: { revokedAt: Date; revokedBy: string; reason: string; source: string; state: string; error: string | null },
  ): RevocationRecord => ({
    approvalId: a.id,
    alreadyRevoked,
    revokedAt: x.revokedAt.toISOString(),
    revokedBy: x.revokedBy,
    reason: x.reason,
    source: x.source,
    state: x.state === "removed" ? "removed" : "pending",
    error: x.error,
    stage: a.stage.name,
    digest: a.image.digest,
    repository,
  });
  if (a.revokedAt) {
    return {
      imageId: a.imageId,
      record: shape(true, {
        revokedAt: a.revokedAt,
        revokedBy: a.revokedBy ?? "unknown",
        reason: a.revocationReason ?? "",
        source: a.revocationSource ?? "manual",
        state: a.revocationState ?? "pending",
        error: a.revocationError,
      }),
    };
  }
  const now = new Date();
  const by = actorLabel(actor);
  await tx.approval.update({
    where: { id: a.id },
    data: {
      revokedAt: now,
      revokedBy: by,
      revokedById: actor.kind === "user" ? actor.id : null,
      revocationReason: text,
      revocationSource: source,
      revocationState: "pending",
      revocationError: null,
    },
  });
  await appendAuditEvent(tx, {
    actor,
    action: "approval.revoke",
    targetDigest: a.image.digest,
    target: repository,
    detail: { approvalId: a.id, requestId: a.requestId, stage: a.stage.name, reason: text, source, layerDigest: a.layerDigest, status: a.status },
  });
  await emitEvent(tx, "approval.revoked", {
    approvalId: a.id,
    requestId: a.requestId,
    stage: a.stage.name,
    digest: a.image.digest,
    repository,
    reason: text,
    source,
    revokedBy: by,
    revokedAt: now.toISOString(),
  });
  // A later stage of this image may have passed its previousStage gate on this approval: its standing approvals are
  // judged again (queued with the revocation, so the request exists exactly when the revocation committed).
  await requestReevaluation(tx, { trigger: "revocation", imageIds: [a.imageId] });
  return { imageId: a.imageId, record: shape(false, { revokedAt: now, revokedBy: by, reason: text, source, state: "pending", error: null }) };
}

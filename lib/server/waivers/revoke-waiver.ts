import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { requestReevaluationInScope } from "../reevaluation/enqueue-reevaluation";

/** Ends a waiver early. Its grantor, a member of its stage's waiver group, or an admin may do so. */
export async function revokeWaiver({ actor, waiverId, reason }: { actor: Actor; waiverId: string; reason: string }) {
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "waivers are revoked by a user");
  if (!isUuid(waiverId)) throw new AppError("NOT_FOUND", "no such waiver");
  const w = await db.waiver.findUnique({ where: { id: waiverId }, include: { stage: true } });
  if (!w) throw new AppError("NOT_FOUND", "no such waiver");
  const member = w.stage.waiverGroupId
    ? await db.groupMember.findUnique({ where: { groupId_userId: { groupId: w.stage.waiverGroupId, userId: actor.id } } })
    : null;
  if (actor.role !== "admin" && w.grantedById !== actor.id && !member)
    throw new AppError("FORBIDDEN", "only the grantor, the stage's waiver group or an admin may revoke a waiver");
  if (w.revokedAt) return { id: w.id, revokedAt: w.revokedAt.toISOString() };
  return db.$transaction(async (tx) => {
    const now = new Date();
    await tx.waiver.update({ where: { id: w.id }, data: { revokedAt: now } });
    await requestReevaluationInScope(tx, { repositoryId: w.repositoryId, digest: w.digest });
    await appendAuditEvent(tx, {
      actor,
      action: "waiver.revoke",
      targetDigest: w.digest,
      detail: { waiverId: w.id, stage: w.stage.name, gate: w.gate, reason },
    });
    return { id: w.id, revokedAt: now.toISOString() };
  });
}

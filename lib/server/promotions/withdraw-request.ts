import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

/** The requester (or an admin) withdraws an open request. Its reviews stay on record. */
export async function withdrawRequest({ actor, requestId, reason }: { actor: Actor; requestId: string; reason: string }) {
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "requests are withdrawn by a user");
  if (!isUuid(requestId)) throw new AppError("NOT_FOUND", "no such promotion request");
  return db.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM promotion_requests WHERE id = ${requestId}::uuid FOR UPDATE`;
    if (locked.length === 0) throw new AppError("NOT_FOUND", "no such promotion request");
    const r = await tx.promotionRequest.findUniqueOrThrow({
      where: { id: requestId },
      include: { stage: { select: { name: true } }, image: { select: { digest: true } } },
    });
    if (r.requesterId !== actor.id && actor.role !== "admin") throw new AppError("FORBIDDEN", "only the requester or an admin may withdraw a request");
    if (r.status !== "open") throw new AppError("CONFLICT", `this request is already ${r.status}`);
    const now = new Date();
    await tx.promotionRequest.update({ where: { id: requestId }, data: { status: "withdrawn", decidedAt: now, updatedAt: now } });
    await appendAuditEvent(tx, { actor, action: "request.withdraw", targetDigest: r.image.digest, detail: { requestId, stage: r.stage.name, reason } });
    return { id: requestId, status: "withdrawn" as const };
  });
}

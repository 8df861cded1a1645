import "server-only";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { actorLabel, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";

/**
 * The second person's confirmation of a bulk revocation (BULK_REVOCATION_TWO_PERSON=1): an admin or reviewer other
 * than the one who started it. Confirming twice answers the current state.
 */
export async function confirmBulkRevocation({ actor, id, enqueue }: { actor: Actor; id: string; enqueue?: (id: string) => Promise<void> }) {
  if (!isUuid(id)) throw new AppError("NOT_FOUND", "no such bulk revocation");
  if (actor.kind === "user" && actor.role !== "admin" && actor.role !== "reviewer")
    throw new AppError("FORBIDDEN", `confirming a bulk revocation needs role reviewer or admin; you are ${actor.role}`);
  const row = await db.$transaction(async (tx) => {
    const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM bulk_revocations WHERE id = ${id}::uuid FOR UPDATE`;
    if (!locked) throw new AppError("NOT_FOUND", "no such bulk revocation");
    const r = await tx.bulkRevocation.findUniqueOrThrow({ where: { id } });
    if (r.status !== "awaiting-confirmation") return { row: r, changed: false };
    if (env().BULK_REVOCATION_TWO_PERSON && actor.kind === "user" && r.requestedById === actor.id) {
      throw new AppError("FORBIDDEN", "four eyes: a bulk revocation is confirmed by someone other than the person who started it");
    }
    const u = await tx.bulkRevocation.update({ where: { id }, data: { status: "queued", confirmedBy: actorLabel(actor) } });
    await appendAuditEvent(tx, { actor, action: "revocation.bulk.confirm", detail: { bulkRevocationId: id, approvals: r.total, requestedBy: r.requestedBy } });
    await emitEvent(tx, "revocation.bulk", { bulkRevocationId: id, status: "queued", confirmedBy: actorLabel(actor), approvals: r.total, reason: r.reason });
    return { row: u, changed: true };
  });
  if (row.changed && enqueue) await enqueue(id);
  return { id, status: row.row.status, confirmedBy: row.row.confirmedBy };
}

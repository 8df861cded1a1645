import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { auditedWebhookUrl } from "./create-webhook";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

export async function deleteWebhook({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing webhooks");
  return db.$transaction(async (tx) => {
    const w = await tx.webhook.findUnique({ where: { name } });
    if (!w) throw new AppError("NOT_FOUND", `no webhook ${name}`);
    await tx.webhook.delete({ where: { id: w.id } });
    await appendAuditEvent(tx, { actor, action: "webhook.delete", target: name, detail: { url: auditedWebhookUrl(w.url) } });
    return { deleted: name };
  });
}

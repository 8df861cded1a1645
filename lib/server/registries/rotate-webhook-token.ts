import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { newToken } from "../tokens/token-format";
import { findRegistry } from "./find-registry";

/** A new bearer token for the registry's notifications; shown once, stored as SHA-256. */
export async function rotateWebhookToken({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing registry notifications");
  const r = await findRegistry(name);
  const t = newToken();
  await db.$transaction(async (tx) => {
    await tx.registry.update({ where: { id: r.id }, data: { webhookTokenHash: t.hash, updatedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "registry.webhook-token.rotate", target: name, detail: { prefix: t.prefix } });
  });
  return { token: t.token, endpoint: `/api/v1/registries/${encodeURIComponent(name)}/notifications` };
}

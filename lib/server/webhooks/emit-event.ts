import "server-only";
import type { Tx } from "../../db";

export const WEBHOOK_EVENTS = ["request.created", "request.approved", "request.signed", "request.rejected", "review.created", "waiver.granted", "approval.revoked", "image.at-risk", "revocation.bulk"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/**
 * Queues an event for every enabled webhook that subscribes to it, in the caller's transaction (an outbox):
 * the event exists exactly when the change it describes committed. A worker delivers it (deliver-webhooks.ts).
 */
export async function emitEvent(tx: Tx, event: WebhookEvent, payload: Record<string, unknown>): Promise<number> {
  const hooks = await tx.webhook.findMany({ where: { enabled: true, OR: [{ events: { has: event } }, { events: { isEmpty: true } }] }, select: { id: true } });
  if (hooks.length === 0) return 0;
  const body = JSON.parse(JSON.stringify({ event, at: new Date().toISOString(), ...payload })) as object;
  await tx.webhookDelivery.createMany({ data: hooks.map((h) => ({ webhookId: h.id, event, payload: body, status: "pending" })) });
  return hooks.length;
}

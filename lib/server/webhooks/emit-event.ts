import "server-only";
import type { z } from "zod";
import type { Tx } from "../../db";
import { jsonColumn, webhookPayloadColumn } from "../json-columns";
import { matchScope } from "../../signing/trust/identities";

export const WEBHOOK_EVENTS = [
  "request.created",
  "request.approved",
  "request.signed",
  "request.rejected",
  "review.created",
  "waiver.granted",
  "approval.revoked",
  "image.at-risk",
  "revocation.bulk",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** An enabled webhook's subscription, as emitEvent judges it. */
export type EnabledWebhook = { id: string; events: string[]; stages: string[]; repositories: string[] };

/**
 * A SQL expression (a json array) of every enabled webhook's subscription, for a caller that folds it into a read it
 * makes anyway and passes the parsed rows to emitEvent.
 */
export const ENABLED_WEBHOOKS_JSON = `COALESCE((SELECT json_agg(json_build_object('id', w.id, 'events', w.events, 'stages', w.stages, 'repositories', w.repositories)) FROM webhooks w WHERE w.enabled), '[]'::json)`;

/**
 * Queues an event for every enabled webhook that subscribes to it, in the caller's transaction (an outbox):
 * the event exists exactly when the change it describes committed. A worker delivers it (deliver-webhooks.ts).
 */
export async function emitEvent(tx: Tx, event: WebhookEvent, payload: Record<string, unknown>, enabled?: EnabledWebhook[]): Promise<number> {
  // `enabled`: the enabled webhooks, read by the caller together with what it read anyway (one round trip fewer).
  const subscribed = enabled
    ? enabled.filter((h) => h.events.length === 0 || h.events.includes(event))
    : await tx.webhook.findMany({
        where: { enabled: true, OR: [{ events: { has: event } }, { events: { isEmpty: true } }] },
        select: { id: true, stages: true, repositories: true },
      });
  const hooks = subscribed.filter((h) => inScope(h, payload));
  if (hooks.length === 0) return 0;
  const body = JSON.parse(JSON.stringify({ event, at: new Date().toISOString(), ...payload })) as z.input<typeof webhookPayloadColumn>;
  await tx.webhookDelivery.createMany({
    data: hooks.map((h) => ({ webhookId: h.id, event, payload: jsonColumn(webhookPayloadColumn, body), status: "pending" })),
  });
  return hooks.length;
}

/**
 * A webhook's scope: the event's stage among its stages, its repository (without the registry) matching one of its
 * globs. Empty lists mean everything; an event that names no stage or repository passes only an empty scope.
 */
function inScope(h: { stages: string[]; repositories: string[] }, payload: Record<string, unknown>): boolean {
  const stage = typeof payload.stage === "string" ? payload.stage : null;
  if (h.stages.length && (!stage || !h.stages.includes(stage))) return false;
  if (!h.repositories.length) return true;
  const full = typeof payload.repository === "string" ? payload.repository : null;
  if (!full) return false;
  const repo = full.includes("/") ? full.slice(full.indexOf("/") + 1) : full;
  return h.repositories.some((g) => matchScope(g, repo));
}

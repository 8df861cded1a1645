import "server-only";
import { db } from "../../db";
import { unseal } from "../../signing/keys/sealed";
import { masterKey } from "../keys/master-key";
import { guardedAgent, networkErrorMessage } from "../../oci/client";
import { env } from "../../env";
import { cloudEvent, slackMessage } from "./webhook-format";
import { webhookSignatureHeaders } from "./webhook-signature";
import { JsonColumnError, readJson, webhookPayloadColumn } from "../json-columns";

const MAX_ATTEMPTS = 8;

/** The stored payload, checked (what emitEvent wrote), or the JsonColumnError's message naming the row. */
function deliveryPayload(d: { id: string; payload: unknown }): Record<string, unknown> | string {
  try {
    return readJson(webhookPayloadColumn, d.payload, { table: "webhook_deliveries", column: "payload", id: d.id });
  } catch (e) {
    if (e instanceof JsonColumnError) return e.message;
    throw e;
  }
}
const agent = guardedAgent();
const TIMEOUT_MS = 5_000;

/**
 * Sends pending webhook deliveries. Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of replicas can
 * run this at once without sending an event twice; a failure is retried with exponential backoff up to 8 times.
 */
export async function deliverWebhooks({ limit = 50, fetchImpl = fetch }: { limit?: number; fetchImpl?: typeof fetch } = {}) {
  let delivered = 0;
  let failed = 0;
  for (let i = 0; i < limit; i++) {
    const done = await db.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<{ id: string }[]>`
          SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`;
        const row = rows[0];
        if (!row) return null;
        const d = await tx.webhookDelivery.findUniqueOrThrow({ where: { id: row.id }, include: { webhook: { omit: { secret: false } } } });
        const payload = deliveryPayload(d);
        if (typeof payload === "string") {
          // Fail closed: a payload that cannot be read is not signed and sent; the delivery fails with the row named.
          await tx.webhookDelivery.update({ where: { id: d.id }, data: { status: "failed", attempts: d.attempts + 1, lastError: payload } });
          return "failed";
        }
        const format = d.webhook.format === "slack" ? "slack" : "cloudevents";
        const body = JSON.stringify(
          format === "slack"
            ? slackMessage(d.event, payload, env().NEXTAUTH_URL ?? null)
            : cloudEvent(d.id, d.event, payload, env().NEXTAUTH_URL ?? "urn:imprimatur"),
        );
        const secret = unseal(masterKey(), d.webhook.secret, `webhook:${d.webhook.id}`).toString("utf8");
        // Signed per attempt: the timestamp is this attempt's, the id the delivery's (stable across retries).
        const signature = webhookSignatureHeaders({ secret, id: d.id, body });
        let error: string | null = null;
        try {
          const res = await fetchImpl(d.webhook.url, {
            method: "POST",
            headers: {
              "content-type": format === "slack" ? "application/json" : "application/cloudevents+json; charset=utf-8",
              "x-imprimatur-event": d.event,
              "x-imprimatur-delivery": d.id,
              ...signature,
            },
            body,
            redirect: "manual",
            signal: AbortSignal.timeout(TIMEOUT_MS),
            // The address is checked again at connect time: DNS may have changed since the webhook was saved.
            dispatcher: agent,
          } as RequestInit);
          if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
          await res.body?.cancel().catch(() => undefined);
        } catch (e) {
          error = networkErrorMessage(e);
        }
        const attempts = d.attempts + 1;
        if (!error) {
          await tx.webhookDelivery.update({ where: { id: d.id }, data: { status: "delivered", attempts, deliveredAt: new Date(), lastError: null } });
          return "delivered";
        }
        await tx.webhookDelivery.update({
          where: { id: d.id },
          data: {
            status: attempts >= MAX_ATTEMPTS ? "failed" : "pending",
            attempts,
            lastError: error,
            nextAttemptAt: new Date(Date.now() + Math.min(3_600_000, 2 ** attempts * 5_000)),
          },
        });
        return "failed";
      },
      { timeout: TIMEOUT_MS * 3, maxWait: 10_000 },
    );
    if (done === null) break;
    if (done === "delivered") delivered++;
    else failed++;
  }
  return { delivered, failed };
}

let kicking = false;

/**
 * Delivers right after a commit, without making the caller wait; the scheduler tick retries whatever fails. One run
 * at a time per process: a delivery holds a pooled connection while it waits on the remote URL.
 */
export function kickWebhooks(): void {
  if (kicking) return;
  kicking = true;
  void deliverWebhooks({ limit: 20 })
    .catch(() => undefined)
    .finally(() => {
      kicking = false;
    });
}

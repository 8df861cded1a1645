import "server-only";
import { createHmac, randomBytes } from "node:crypto";

/** The prefix Standard Webhooks gives a secret: `whsec_` and the key bytes in base64. */
const SECRET_PREFIX = "whsec_";

/**
 * A new webhook secret, as Standard Webhooks serializes one (`whsec_` + base64 of 32 random bytes), so a receiver can
 * hand it to any Standard Webhooks library as is.
 */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/**
 * The HMAC key of the `webhook-signature` header. A `whsec_` secret stands for its base64-decoded bytes (the spec's
 * rule). Secrets issued before we adopted the scheme are 43 base64url characters without the prefix; for those the key
 * is the UTF-8 bytes of the secret string itself (the same key as the legacy header), so a receiver passes
 * `whsec_` + base64(secret) to a library.
 */
export function webhookSigningKey(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX) ? Buffer.from(secret.slice(SECRET_PREFIX.length), "base64") : Buffer.from(secret, "utf8");
}

/**
 * The signature headers of one delivery attempt (https://www.standardwebhooks.com): `webhook-id` is the delivery id
 * (the same on every retry of that delivery, so receivers deduplicate on it), `webhook-timestamp` the unix seconds of
 * this attempt, `webhook-signature` `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`. Binding the id and the time
 * into the MAC is what lets a receiver refuse a captured delivery replayed later, or under another id.
 */
export function webhookSignatureHeaders({ secret, id, body, now = new Date() }: { secret: string; id: string; body: string; now?: Date }) {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const v1 = createHmac("sha256", webhookSigningKey(secret)).update(`${id}.${timestamp}.${body}`).digest("base64");
  return {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": `v1,${v1}`,
    // Deprecated, kept for receivers deployed before the scheme above: HMAC of the body alone, keyed with the UTF-8
    // bytes of the secret string. It covers no id and no time, so a captured delivery verifies forever (replayable).
    "x-imprimatur-signature": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`,
  };
}

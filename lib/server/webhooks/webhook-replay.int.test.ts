// Deliveries are signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature over
// "<id>.<timestamp>.<body>"), so a receiver can refuse a captured delivery replayed later or under another id. The
// verifier below is written from the spec with node:crypto alone, not with our signing code.
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { bytes, db, disconnectDb } from "../../db";
import { seal } from "../../signing/keys/sealed";
import { masterKey } from "../keys/master-key";
import { createWebhook } from "./create-webhook";
import { deliverWebhooks } from "./deliver-webhooks";
import { emitEvent } from "./emit-event";

type Got = { headers: Record<string, string>; body: string };

/** A receiver's check, per https://www.standardwebhooks.com: false on any doubt. */
function verify(secret: string, { headers, body }: Got, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sigs = headers["webhook-signature"];
  if (!id || !ts || !sigs || !/^\d+$/.test(ts)) return false;
  if (Math.abs(nowSeconds - Number(ts)) > 5 * 60) return false;
  if (!secret.startsWith("whsec_")) return false;
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const want = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
  return sigs.split(" ").some((s) => {
    const [version, b64] = s.split(",");
    const got = Buffer.from(b64 ?? "", "base64");
    return version === "v1" && got.length === want.length && timingSafeEqual(got, want);
  });
}

function recorder(statuses: number[] = []) {
  const got: Got[] = [];
  const fetchImpl = (async (_url: string, init: RequestInit) => {
    got.push({ headers: { ...(init.headers as Record<string, string>) }, body: String(init.body) });
    return new Response(null, { status: statuses.shift() ?? 204 });
  }) as unknown as typeof fetch;
  return { got, fetchImpl };
}

const payload = { repository: "r.example/apps/x", digest: `sha256:${"a".repeat(64)}`, stage: "prod", by: "alice@example.com", reason: "temp" };

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

describe("webhook replay protection", () => {
  it("binds each delivery's id and time into the signature, so a replay with another time or id fails", async () => {
    const admin = await userActor("admin@example.com");
    const hook = await createWebhook({ actor: admin, name: "slack-replay", url: "http://127.0.0.1:9/hook", events: ["waiver.granted"], format: "slack" });
    expect(hook.secret).toMatch(/^whsec_/);
    // Two separate events with the same content (the same waiver granted again after a revoke), delivered separately.
    await db.$transaction((tx) => emitEvent(tx, "waiver.granted", payload));
    await db.$transaction((tx) => emitEvent(tx, "waiver.granted", payload));
    const { got, fetchImpl } = recorder();
    await deliverWebhooks({ fetchImpl });
    expect(got).toHaveLength(2);
    const [a, b] = got as [Got, Got];
    // The Slack body is the same for both; what is signed is not.
    expect(a.body).toBe(b.body);
    expect(a.headers["webhook-id"]).toBe(a.headers["x-imprimatur-delivery"]);
    expect(a.headers["webhook-id"]).not.toBe(b.headers["webhook-id"]);
    expect(a.headers["webhook-signature"]).not.toBe(b.headers["webhook-signature"]);
    expect(Math.abs(Number(a.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(verify(hook.secret, a)).toBe(true);
    expect(verify(hook.secret, b)).toBe(true);
    // Replayed later with a fresh timestamp, or under the other delivery's id: the signature no longer matches.
    const later = String(Number(a.headers["webhook-timestamp"]) + 600);
    expect(verify(hook.secret, { ...a, headers: { ...a.headers, "webhook-timestamp": later } }, Number(later))).toBe(false);
    expect(verify(hook.secret, { ...a, headers: { ...a.headers, "webhook-id": b.headers["webhook-id"]! } })).toBe(false);
    // Replayed as captured, after the 5-minute window: refused on its timestamp.
    expect(verify(hook.secret, a, Number(a.headers["webhook-timestamp"]) + 301)).toBe(false);
    expect(verify(hook.secret, { ...a, body: a.body.replace("temp", "perm") })).toBe(false);
    // The deprecated header is still sent, unchanged, for receivers deployed before: HMAC of the body alone.
    expect(a.headers["x-imprimatur-signature"]).toBe(`sha256=${createHmac("sha256", hook.secret).update(a.body).digest("hex")}`);
  });

  it("keeps the id across retries of a delivery and signs each attempt with its own time", async () => {
    const admin = await userActor("admin@example.com");
    const hook = await createWebhook({ actor: admin, name: "retried", url: "http://127.0.0.1:9/retried", events: ["request.rejected"] });
    await db.$transaction((tx) => emitEvent(tx, "request.rejected", { requestId: "r1", stage: "prod" }));
    const { got, fetchImpl } = recorder([503]);
    await deliverWebhooks({ fetchImpl });
    await new Promise((r) => setTimeout(r, 1100));
    await db.webhookDelivery.updateMany({ where: { webhookId: hook.id }, data: { nextAttemptAt: new Date() } });
    await deliverWebhooks({ fetchImpl });
    const [first, retry] = got.filter((g) => g.headers["x-imprimatur-event"] === "request.rejected") as [Got, Got];
    expect(retry).toBeDefined();
    expect(retry.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect(Number(retry.headers["webhook-timestamp"])).toBeGreaterThan(Number(first.headers["webhook-timestamp"]));
    expect(verify(hook.secret, first)).toBe(true);
    expect(verify(hook.secret, retry)).toBe(true);
    expect(retry.headers["webhook-signature"]).not.toBe(first.headers["webhook-signature"]);
  });

  it("signs for a secret issued before the scheme with the secret string's bytes, as the README says", async () => {
    const admin = await userActor("admin@example.com");
    const hook = await createWebhook({ actor: admin, name: "legacy", url: "http://127.0.0.1:9/legacy", events: ["request.signed"] });
    // What createWebhook used to issue: 32 random bytes as base64url, sealed as its UTF-8 string.
    const legacy = "q0a0yCkJ9v6rI2b3l8mZpQ7xT1uV5wE4sD0fG6hJ8kL";
    await db.webhook.update({ where: { id: hook.id }, data: { secret: bytes(seal(masterKey(), Buffer.from(legacy), `webhook:${hook.id}`)) } });
    await db.$transaction((tx) => emitEvent(tx, "request.signed", { requestId: "r2", stage: "prod" }));
    const { got, fetchImpl } = recorder();
    await deliverWebhooks({ fetchImpl });
    const d = got.find((g) => g.headers["x-imprimatur-event"] === "request.signed")!;
    // A Standard Webhooks library takes it as whsec_ + base64 of the secret string.
    expect(verify(`whsec_${Buffer.from(legacy).toString("base64")}`, d)).toBe(true);
    expect(d.headers["x-imprimatur-signature"]).toBe(`sha256=${createHmac("sha256", legacy).update(d.body).digest("hex")}`);
  });
});

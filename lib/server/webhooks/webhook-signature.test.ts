import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newWebhookSecret, webhookSignatureHeaders, webhookSigningKey } from "./webhook-signature";

describe("webhookSignatureHeaders", () => {
  it("matches the Standard Webhooks reference vector", () => {
    const h = webhookSignatureHeaders({
      secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      body: '{"test": 2432232314}',
      now: new Date(1614265330_000),
    });
    expect(h["webhook-id"]).toBe("msg_p5jXN8AQM9LWM0D4loKWxJek");
    expect(h["webhook-timestamp"]).toBe("1614265330");
    expect(h["webhook-signature"]).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("keeps the deprecated body-only header, keyed with the secret string", () => {
    const secret = newWebhookSecret();
    const h = webhookSignatureHeaders({ secret, id: "d1", body: "{}" });
    expect(h["x-imprimatur-signature"]).toBe(`sha256=${createHmac("sha256", secret).update("{}").digest("hex")}`);
  });
});

describe("webhook secrets", () => {
  it("are whsec_ + base64 of 32 random bytes, and the key is those bytes", () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhookSigningKey(secret)).toEqual(Buffer.from(secret.slice(6), "base64"));
    expect(webhookSigningKey(secret)).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it("issued before the scheme (no prefix) sign with their UTF-8 bytes", () => {
    const legacy = "Zm9vYmFyLWJhei1xdXV4LWNvcmdlLWdyYXVsdC1nYXJw";
    expect(webhookSigningKey(legacy)).toEqual(Buffer.from(legacy, "utf8"));
  });
});

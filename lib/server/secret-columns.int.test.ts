import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../scripts/seed";
import { db, disconnectDb } from "../db";
import type { Actor } from "./actor";
import { authenticatePassword } from "./auth/authenticate";
import { loadAuditSigner } from "./audit/audit-key";
import { createToken } from "./tokens/create-token";
import { createWebhook } from "./webhooks/create-webhook";
import { deleteWebhook } from "./webhooks/delete-webhook";

const system: Actor = { kind: "system", label: "secret-columns-test" };

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build"]);
  await createToken({ actor: system, email: "dev@example.com" });
  await createWebhook({ actor: system, name: "secret-test", url: "http://127.0.0.1:9/hook", events: ["request.created"] });
  await loadAuditSigner();
});
afterAll(async () => {
  await disconnectDb();
});

describe("secret columns are omitted by the Prisma client itself", () => {
  it("a plain findMany returns no password hashes, token hashes, sealed keys or webhook secrets", async () => {
    const users = await db.user.findMany();
    expect(users.length).toBeGreaterThan(0);
    for (const u of users) expect(u).not.toHaveProperty("passwordHash");
    const tokens = await db.apiToken.findMany({ include: { user: true } });
    expect(tokens.length).toBeGreaterThan(0);
    for (const t of tokens) {
      expect(t).not.toHaveProperty("tokenHash");
      // Relations loaded with include are covered too.
      expect(t.user).not.toHaveProperty("passwordHash");
    }
    const keys = await db.signingKey.findMany();
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).not.toHaveProperty("encryptedPrivateKey");
    const auditKeys = await db.auditKey.findMany();
    expect(auditKeys.length).toBeGreaterThan(0);
    for (const k of auditKeys) expect(k).not.toHaveProperty("encryptedPrivateKey");
    const hooks = await db.webhook.findMany();
    expect(hooks.length).toBeGreaterThan(0);
    for (const h of hooks) expect(h).not.toHaveProperty("secret");
  });

  it("the places that need a secret ask for it explicitly, and the data is there", async () => {
    const u = await db.user.findUniqueOrThrow({ where: { email: "dev@example.com" }, omit: { passwordHash: false } });
    expect(u.passwordHash).toMatch(/\S{20,}/);
    // Password sign-in reads the hash: it still works.
    await expect(authenticatePassword("dev@example.com", "dev-demo-pass", "127.0.0.1")).resolves.toMatchObject({ id: u.id });
    await expect(authenticatePassword("dev@example.com", "wrong-password", "127.0.0.1")).resolves.toBeNull();
    const k = await db.signingKey.findFirstOrThrow({ omit: { encryptedPrivateKey: false } });
    expect(k.encryptedPrivateKey?.length).toBeGreaterThan(32);
  });
});

describe("webhook URLs in the audit trail", () => {
  it("show the origin and a fingerprint, never the path that is an incoming webhook's credential", async () => {
    const url = "http://127.0.0.1:9/services/T0001/B0002/hunter2secretpath?token=q";
    await createWebhook({ actor: system, name: "slack-like", url, events: ["request.created"], format: "slack" });
    await deleteWebhook({ actor: system, name: "slack-like" });
    const rows = await db.auditEvent.findMany({ where: { action: { in: ["webhook.create", "webhook.delete"] }, target: "slack-like" } });
    expect(rows.map((r) => r.action).sort()).toEqual(["webhook.create", "webhook.delete"]);
    for (const r of rows) {
      expect(JSON.stringify(r.detail)).not.toMatch(/hunter2|T0001|token=/);
      expect((r.detail as { url: string }).url).toMatch(/^http:\/\/127\.0\.0\.1:9\/… \(sha256 [0-9a-f]{16}\)$/);
    }
  });
});

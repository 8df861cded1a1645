// The per-replica token cache (token-cache.ts) against real Postgres: a change made by another replica (here, SQL
// straight to the database, which this process's cache cannot hear about) is effective within TOKEN_CACHE_MS.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../db";
import type { Actor } from "../actor";
import { createToken } from "../tokens/create-token";
import { revokeToken } from "../tokens/revoke-token";
import { actorForToken } from "./authenticate";
import { TOKEN_CACHE_MS } from "./token-cache";

const cli: Actor = { kind: "cli", label: "token-cache-test" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A user of its own per test, so other test files on the shared database are not disturbed. */
async function freshUserToken(role: "developer" | "reviewer" | "admin" = "developer") {
  const email = `cache-${randomUUID().slice(0, 8)}@example.com`;
  const user = await db.user.create({ data: { email, name: "Cache Test", role, passwordHash: "x" } });
  const t = await createToken({ actor: cli, email, scopes: "read", expires: "1d" });
  return { user, token: t.token, id: t.id };
}

/**
 * Authenticates once (filling the cache), applies `change` as another replica would (SQL, no call into this
 * process), then waits until TOKEN_CACHE_MS after the change committed and authenticates again.
 */
async function afterChangeElsewhere(token: string, change: () => Promise<unknown>) {
  const before = await actorForToken(token);
  expect(before).not.toBeNull();
  await change();
  const committed = Date.now();
  await sleep(Math.max(0, committed + TOKEN_CACHE_MS - Date.now()));
  return actorForToken(token);
}

afterAll(async () => {
  await disconnectDb();
});

describe("API tokens cached for at most a second per replica", () => {
  beforeAll(() => expect(TOKEN_CACHE_MS).toBeLessThanOrEqual(1000));

  it("a token revoked by another replica is refused within a second", async () => {
    const { token, id } = await freshUserToken();
    const after = await afterChangeElsewhere(token, () => db.$executeRaw`UPDATE api_tokens SET revoked_at = now() WHERE id = ${id}::uuid`);
    expect(after).toBeNull();
  });

  it("a user disabled elsewhere loses their token within a second", async () => {
    const { token, user } = await freshUserToken();
    expect(await afterChangeElsewhere(token, () => db.$executeRaw`UPDATE users SET disabled = true WHERE id = ${user.id}::uuid`)).toBeNull();
  });

  it("a role changed elsewhere applies within a second", async () => {
    const { token, user } = await freshUserToken("admin");
    const after = await afterChangeElsewhere(token, () => db.$executeRaw`UPDATE users SET role = 'developer' WHERE id = ${user.id}::uuid`);
    expect(after).toMatchObject({ kind: "user", id: user.id, role: "developer" });
  });

  it("scopes changed elsewhere apply within a second", async () => {
    const { token, id } = await freshUserToken();
    const after = await afterChangeElsewhere(token, () => db.$executeRaw`UPDATE api_tokens SET scopes = ARRAY['admission'] WHERE id = ${id}::uuid`);
    expect(after).toMatchObject({ scopes: ["admission"] });
  });

  it("an expiry moved into the past elsewhere is refused within a second, and a cached token stops at its own expiry", async () => {
    const a = await freshUserToken();
    expect(
      await afterChangeElsewhere(a.token, () => db.$executeRaw`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${a.id}::uuid`),
    ).toBeNull();
    // Expiring 300 ms from now: cached while valid, refused once past it even though the entry is younger than a second.
    const b = await freshUserToken();
    const expiresAt = new Date(Date.now() + 300);
    await db.apiToken.update({ where: { id: b.id }, data: { expiresAt } });
    expect(await actorForToken(b.token)).not.toBeNull();
    await sleep(Math.max(0, expiresAt.getTime() - Date.now() + 20));
    expect(await actorForToken(b.token)).toBeNull();
  });

  it("a token revoked through this replica is refused at once", async () => {
    const { token, id } = await freshUserToken();
    expect(await actorForToken(token)).not.toBeNull();
    await revokeToken({ actor: cli, idOrPrefix: id });
    expect(await actorForToken(token)).toBeNull();
    expect((await db.apiToken.findUniqueOrThrow({ where: { id } })).revokedAt).not.toBeNull();
  });

  it("refuses an unknown token every time (failures are not cached) and accepts a token created a moment ago", async () => {
    expect(await actorForToken("imp_" + "x".repeat(40))).toBeNull();
    const { token } = await freshUserToken();
    expect(await actorForToken(token)).toMatchObject({ kind: "user", via: "token" });
  });
});

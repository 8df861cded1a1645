// Edge hardening (issue 10, items 6, 8, 9, 12): what the server does with hostile or wrong requests at its edge,
// against real Postgres and a real registry.
import { NextRequest } from "next/server";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../scripts/lib/oci-build";
import { DEMO_USERS, seedStages, seedUsers } from "../../scripts/seed";
import { userActor } from "../../scripts/test-harness/promote";
import { db, disconnectDb } from "../db";
import { RegistryClient } from "../oci/client";
import type { Actor } from "./actor";
import { approveStage } from "./approvals/approve-stage";
import { recordAuditEvent } from "./audit/append-audit-event";
import { verifyAuditChain } from "./audit/verify-audit-chain";
import { authenticatePassword, SigninThrottledError } from "./auth/authenticate";
import { checkSigninThrottle, SIGNIN_THROTTLE } from "./auth/signin-throttle";
import { syncRegistry } from "./images/sync-registry";
import { stopBoss } from "./jobs/boss";
import { createRegistry } from "./registries/create-registry";
import { rotateWebhookToken } from "./registries/rotate-webhook-token";
import { updateRegistry } from "./registries/update-registry";
import { createToken } from "./tokens/create-token";
import { POST as postRequest } from "../../app/api/v1/requests/route";
import { POST as postNotification } from "../../app/api/v1/registries/[name]/notifications/route";
import { POST as postApproval } from "../../app/api/v1/approvals/route";

const system: Actor = { kind: "system", label: "edge-test" };
const password = (email: string) => DEMO_USERS.find((u) => u.email === email)!.password;
let sql: pg.Client;
let locked: RegistryHandle;
const creds = { username: "edge-reader", password: "edge-Pa55" };

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
  locked = await startRegistry({ htpasswd: creds });
});
afterAll(async () => {
  await locked?.destroy();
  await sql.end();
  await stopBoss();
  await disconnectDb();
});

async function failures(source: string, kind: string): Promise<number> {
  const r = await sql.query(`SELECT COALESCE(SUM(count), 0)::int AS n FROM auth_failure_counts WHERE source = $1 AND kind = $2`, [source, kind]);
  return r.rows[0].n as number;
}

describe("sign-in throttling", () => {
  it("refuses an account after 10 attempts even with the right password, counts failures without audit rows, and lets the right password in after the window", async () => {
    const email = "carol@example.com";
    const source = "198.51.100.7";
    const auditBefore = await db.auditEvent.count({ where: { action: "auth.signin" } });
    for (let i = 0; i < SIGNIN_THROTTLE.perAccount; i++) expect(await authenticatePassword(email, `wrong-${i}`, source)).toBeNull();
    // Over the limit: refused before the password is looked at, with how long to wait.
    const e = await authenticatePassword(email, password(email), source).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SigninThrottledError);
    expect((e as SigninThrottledError).code).toBe("RATE_LIMITED");
    expect((e as SigninThrottledError).retryAfterSeconds).toBeGreaterThan(SIGNIN_THROTTLE.windowSeconds - 120);
    // Another address is throttled on this account too (per account), and the check the route makes agrees.
    await expect(authenticatePassword(email, password(email), "203.0.113.9")).rejects.toBeInstanceOf(SigninThrottledError);
    expect((await checkSigninThrottle({ email, source: "203.0.113.9" })).blocked).toBe(true);
    // Failures are counted per source and minute; no audit row was added for any of them.
    expect(await failures(source, "signin")).toBe(SIGNIN_THROTTLE.perAccount + 1);
    await (await import("./audit/fold-staged-audit-events")).foldStagedAuditEvents();
    expect(await db.auditEvent.count({ where: { action: "auth.signin" } })).toBe(auditBefore);

    // The window passes (moved back in the stored state, as every replica sees it): the real password works.
    await sql.query(`UPDATE signin_throttle SET window_start = window_start - make_interval(secs => $1)`, [SIGNIN_THROTTLE.windowSeconds + 1]);
    expect(await authenticatePassword(email, password(email), source)).toMatchObject({ id: expect.any(String) });
    expect(await db.auditEvent.count({ where: { action: "auth.signin", outcome: "success", actorLabel: { contains: email } } })).toBeGreaterThan(0);
    expect((await sql.query(`SELECT 1 FROM signin_throttle WHERE key = $1`, [`account:${email}`])).rowCount).toBe(0);
  });

  it("throttles one source address across many accounts", async () => {
    const source = "192.0.2.44";
    for (let i = 0; i < SIGNIN_THROTTLE.perSource; i++) expect(await authenticatePassword(`nobody-${i}@example.com`, "x", source)).toBeNull();
    await expect(authenticatePassword("bob@example.com", password("bob@example.com"), source)).rejects.toBeInstanceOf(SigninThrottledError);
    // Bob himself, from elsewhere, is not affected.
    expect(await authenticatePassword("bob@example.com", password("bob@example.com"), "192.0.2.45")).not.toBeNull();
  });

  it("a NUL in the e-mail is a plain failed sign-in, not a database error", async () => {
    expect(await authenticatePassword("alice@example.com\u0000' OR 1=1", "x", "192.0.2.99")).toBeNull();
    expect(await failures("192.0.2.99", "signin")).toBe(1);
    // The route's pre-check sees the same e-mail: no DB error there either.
    expect(await checkSigninThrottle({ email: "alice@example.com\u0000", source: "192.0.2.99\u0000" })).toEqual({ blocked: false });
  });
});

describe("registry secrets", () => {
  it("a new URL origin clears the sealed credentials unless they are given again; a path-only change keeps them", async () => {
    const other = await startRegistry({});
    try {
      await createRegistry({ actor: system, input: { name: "edge-locked", url: locked.url, readCredentials: creds, pushCredentials: creds } });
      const sameOrigin = await updateRegistry({ actor: system, name: "edge-locked", input: { url: `${locked.url}/` } });
      expect(sameOrigin).toMatchObject({ readCredentials: "set", pushCredentials: "set" });

      const moved = await updateRegistry({ actor: system, name: "edge-locked", input: { url: other.url } });
      expect(moved).toMatchObject({ readCredentials: null, pushCredentials: null });
      const row = await db.registry.findUniqueOrThrow({ where: { name: "edge-locked" } });
      expect(row.readCredentials).toBeNull();
      expect(row.pushCredentials).toBeNull();
      const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "registry.update", target: "edge-locked" }, orderBy: { seq: "desc" } });
      expect(audit.detail).toMatchObject({ readCredentials: "cleared: the URL's origin changed", pushCredentials: "cleared: the URL's origin changed" });

      // Back to the real registry with the credentials in the same request: kept, and they work.
      const back = await updateRegistry({ actor: system, name: "edge-locked", input: { url: locked.url, readCredentials: creds } });
      expect(back).toMatchObject({ readCredentials: "set", pushCredentials: null });
      const client = new RegistryClient({ url: locked.url, ...creds });
      await client.ping();
    } finally {
      await other.destroy();
    }
  });
});

describe("requests at the edge", () => {
  let bearer: string;
  let digest: string;
  beforeAll(async () => {
    bearer = (await createToken({ actor: system, email: "dev@example.com", name: "edge", expires: "1d" })).token;
    const img = buildImage({ architecture: "amd64", layers: [{ "edge.txt": `edge ${Date.now()}` }] });
    await pushImage(new RegistryClient({ url: process.env.REGISTRY_URL! }), "edge/app", img, ["1.0"]);
    await syncRegistry({ actor: system, registry: "default" });
    digest = img.digest;
  });

  const call = (handler: (req: never, ctx: never) => Promise<Response>, url: string, init: RequestInit & { params?: unknown }) =>
    handler(new NextRequest(`http://127.0.0.1${url}`, init as never) as never, { params: Promise.resolve(init.params ?? {}) } as never);

  it("a body declared as text/plain; application/json is refused with 415, even with a token, and nothing is stored", async () => {
    const res = await call(postRequest, "/api/v1/requests", {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "text/plain; application/json" },
      body: JSON.stringify({ registry: "default", repository: "edge/app", digest, stage: "build", note: "x" }),
    });
    expect(res.status).toBe(415);
    expect((await res.json()).error).toMatchObject({ code: "UNSUPPORTED_MEDIA_TYPE", field: "content-type" });
    expect(await db.promotionRequest.count({ where: { image: { digest } } })).toBe(0);
    // The exact type, with a charset parameter, is fine.
    const ok = await call(postRequest, "/api/v1/requests", {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ registry: "default", repository: "edge/app", digest, stage: "build", note: "x" }),
    });
    expect(ok.status, JSON.stringify(await ok.clone().json())).toBe(201);
  });

  it("POST /api/v1/approvals answers 404 naming an unknown stage or digest, 409 only when the request is missing", async () => {
    const reviewer = (await createToken({ actor: system, email: "alice@example.com", name: "edge", expires: "1d" })).token;
    const post = (b: Record<string, unknown>) =>
      call(postApproval, "/api/v1/approvals", {
        method: "POST",
        headers: { authorization: `Bearer ${reviewer}`, "content-type": "application/json" },
        body: JSON.stringify({ repository: "edge/app", digest, comment: "ok", ...b }),
      });
    const noStage = await post({ stage: "no-such-stage" });
    expect(noStage.status).toBe(404);
    expect((await noStage.json()).error).toMatchObject({ code: "NOT_FOUND", field: "stage", message: expect.stringContaining("no-such-stage") });
    const noImage = await post({ stage: "build", digest: `sha256:${"e".repeat(64)}` });
    expect(noImage.status).toBe(404);
    expect((await noImage.json()).error).toMatchObject({ code: "NOT_FOUND", field: "digest" });
    const noRegistry = await post({ stage: "build", registry: "nowhere" });
    expect((await noRegistry.json()).error).toMatchObject({ code: "NOT_FOUND", field: "registry" });
    const noRequest = await post({ stage: "prod" });
    expect(noRequest.status).toBe(409);
    await expect(
      approveStage({ actor: await userActor("alice@example.com"), repository: "edge/app", digest: digest as never, stage: "nope", comment: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("the registry-notification route checks the token before reading the body", async () => {
    await createRegistry({ actor: system, input: { name: "edge-hooks", url: locked.url } });
    const { token } = await rotateWebhookToken({ actor: system, name: "edge-hooks" });
    let pulled = 0;
    // A body that counts how often it is read from (nothing is buffered ahead: highWaterMark 0).
    const body = () =>
      new ReadableStream<Uint8Array>(
        {
          pull(c) {
            pulled++;
            if (pulled > 1) c.close();
            else c.enqueue(new TextEncoder().encode(JSON.stringify({ events: [] })));
          },
        },
        { highWaterMark: 0 },
      );
    const wrong = await call(postNotification, "/api/v1/registries/edge-hooks/notifications", {
      method: "POST",
      headers: { authorization: "Bearer wrong" },
      body: body(),
      duplex: "half",
      params: { name: "edge-hooks" },
    } as RequestInit);
    expect(wrong.status).toBe(401);
    expect(pulled).toBe(0);
    expect(await failures("unknown", "webhook")).toBeGreaterThan(0);
    const right = await call(postNotification, "/api/v1/registries/edge-hooks/notifications", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: body(),
      duplex: "half",
      params: { name: "edge-hooks" },
    } as RequestInit);
    expect(right.status).toBe(202);
    expect(pulled).toBeGreaterThan(0);
  });

  it("a garbage token is counted per source, not written to the audit trail", async () => {
    const outboxBefore = await db.auditOutbox.count();
    const before = await failures("unknown", "token");
    for (let i = 0; i < 5; i++) {
      const res = await call(postRequest, "/api/v1/requests", {
        method: "POST",
        headers: { authorization: "Bearer imp_garbage", "content-type": "application/json" },
        body: "{}",
      });
      expect(res.status).toBe(401);
    }
    expect(await failures("unknown", "token")).toBe(before + 5);
    expect(await db.auditOutbox.count()).toBe(outboxBefore);
  });
});

describe("audit chain verification", () => {
  it("the incremental check reads only the rows after the stored checkpoint, and still catches changes after it and at it", async () => {
    const full = await verifyAuditChain();
    expect(full.ok).toBe(true);
    expect(full.checked).toBe(full.rows);
    for (let i = 0; i < 3; i++)
      await recordAuditEvent({ actor: system, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `edge ${i}` } });
    const inc = await verifyAuditChain({ from: "checkpoint" });
    expect(inc).toMatchObject({ ok: true, from: "checkpoint", checked: 3, rows: full.rows + 3 });
    expect((await verifyAuditChain({ from: "checkpoint" })).checked).toBe(0);

    await recordAuditEvent({ actor: system, action: "request.denied", outcome: "denied", detail: { status: 403, reason: "edge 3" } });
    const last = await db.auditEvent.findFirstOrThrow({ orderBy: { seq: "desc" } });
    const anchor = await db.auditChainCheckpoint.findUniqueOrThrow({ where: { id: 1 } });
    await sql.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
    try {
      await sql.query(`UPDATE audit_events SET detail = '{"i": 999}' WHERE seq = $1`, [last.seq.toString()]);
      const broken = await verifyAuditChain({ from: "checkpoint" });
      expect(broken).toMatchObject({ ok: false, brokenSeq: last.seq });
      await sql.query(`UPDATE audit_events SET detail = $1 WHERE seq = $2`, [JSON.stringify(last.detail), last.seq.toString()]);

      // The checkpoint row itself changed: caught without re-reading the trail.
      const at = await db.auditEvent.findUniqueOrThrow({ where: { seq: anchor.seq } });
      await sql.query(`UPDATE audit_events SET hash = $1 WHERE seq = $2`, ["f".repeat(64), anchor.seq.toString()]);
      expect(await verifyAuditChain({ from: "checkpoint" })).toMatchObject({ ok: false, brokenSeq: anchor.seq });
      await sql.query(`UPDATE audit_events SET hash = $1 WHERE seq = $2`, [at.hash, anchor.seq.toString()]);
    } finally {
      await sql.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
    }
    expect((await verifyAuditChain({ from: "checkpoint" })).ok).toBe(true);
    expect((await verifyAuditChain()).ok).toBe(true);
  });
});

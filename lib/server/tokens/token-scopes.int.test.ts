// Scoped, expiring API tokens and the user lifecycle, through the real route handlers and Postgres.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import * as imageReviewRoute from "../../../app/api/v1/imagereview/route";
import * as imagesRoute from "../../../app/api/v1/images/route";
import * as requestsRoute from "../../../app/api/v1/requests/route";
import * as tokensRoute from "../../../app/api/v1/tokens/route";
import * as userRoute from "../../../app/api/v1/users/[email]/route";
import * as verifyRoute from "../../../app/api/v1/verify/route";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { verifyPassword } from "../../password";
import type { Actor } from "../actor";
import { actorForToken, actorForUserId } from "../auth/authenticate";
import { requiredScopes } from "../auth/token-scope";
import { updateUser } from "../users/update-user";
import { createToken } from "./create-token";

const cli: Actor = { kind: "cli", label: "test" };
const root = join(__dirname, "../../..");
type Handler = (req: NextRequest, ctx: { params: Promise<never> }) => Promise<Response>;

async function call(handler: unknown, method: string, path: string, opts: { token?: string; body?: unknown; params?: Record<string, string> } = {}) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const req = new NextRequest(`http://127.0.0.1${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const res = await (handler as Handler)(req, { params: Promise.resolve(opts.params ?? {}) as Promise<never> });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string; field?: string } } & Record<string, unknown> };
}

beforeAll(async () => {
  await seedUsers();
});

afterAll(async () => {
  delete process.env.IMPRIMATUR_TOKEN_MAX_DAYS;
  resetEnvCache();
  await disconnectDb();
});

describe("token scopes", () => {
  it("defaults GET to read and unlisted writes to admin; verify accepts admission or read", () => {
    expect(requiredScopes("GET", "/api/v1/images")).toEqual(["read"]);
    expect(requiredScopes("PUT", "/api/v1/something-new")).toEqual(["admin"]);
    expect(requiredScopes("POST", "/api/v1/imagereview")).toEqual(["admission"]);
    expect(requiredScopes("GET", "/api/v1/verify")).toEqual(["admission", "read"]);
    expect(requiredScopes("POST", "/api/v1/requests/abc/reviews")).toEqual(["review"]);
  });

  it("an admission token answers verify and ImageReview and gets 403 everywhere else, audited", async () => {
    const t = await createToken({ actor: cli, email: "dev@example.com", scopes: ["admission"], expires: "1d" });
    const verify = await call(verifyRoute.GET, "GET", "/api/v1/verify?image=reg.example.com/app@sha256:" + "a".repeat(64) + "&stage=nope", { token: t.token });
    // Passed the scope check: the answer is about the image and stage, not about the token.
    expect(verify.status).not.toBe(403);
    expect(verify.status).not.toBe(401);
    const review = await call(imageReviewRoute.POST, "POST", "/api/v1/imagereview", {
      token: t.token,
      body: {
        apiVersion: "imagepolicy.k8s.io/v1alpha1",
        kind: "ImageReview",
        spec: { containers: [{ image: "reg.example.com/app@sha256:" + "b".repeat(64) }], namespace: "default" },
      },
    });
    expect(review.status).toBe(200);
    expect(review.body).toMatchObject({ kind: "ImageReview", status: { allowed: expect.any(Boolean) } });
    const list = await call(imagesRoute.GET, "GET", "/api/v1/images", { token: t.token });
    expect(list.status).toBe(403);
    expect(list.body.error).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("needs read") });
    const req = await call(requestsRoute.POST, "POST", "/api/v1/requests", {
      token: t.token,
      body: { registry: "default", repository: "x", digest: "sha256:" + "c".repeat(64), stage: "prod" },
    });
    expect(req.status).toBe(403);
    const denied = await db.auditOutbox.findMany({ where: { action: "request.denied", target: "GET /api/v1/images" } });
    expect(denied.some((d) => JSON.stringify(d.detail).includes("needs read"))).toBe(true);
    const row = await db.apiToken.findUniqueOrThrow({ where: { id: t.id } });
    expect(row.lastUsedAt).not.toBeNull();
  });

  it("a read token reads but cannot request a promotion", async () => {
    const t = await createToken({ actor: cli, email: "dev@example.com", scopes: "read", expires: "1d" });
    expect((await call(imagesRoute.GET, "GET", "/api/v1/images", { token: t.token })).status).toBe(200);
    const req = await call(requestsRoute.POST, "POST", "/api/v1/requests", {
      token: t.token,
      body: { registry: "default", repository: "x", digest: "sha256:" + "c".repeat(64), stage: "prod" },
    });
    expect(req.status).toBe(403);
    expect(req.body.error?.message).toContain("needs request");
  });

  it("caps scopes by the user's role and lifetimes by the configured maximum", async () => {
    await expect(createToken({ actor: cli, email: "dev@example.com", scopes: ["admin"] })).rejects.toMatchObject({ code: "FORBIDDEN", field: "scopes" });
    await expect(createToken({ actor: cli, email: "manager@example.com", scopes: ["evidence"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(createToken({ actor: cli, email: "dev@example.com", scopes: ["root"] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "scopes" });
    await expect(createToken({ actor: cli, email: "dev@example.com", scopes: [] })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "scopes" });
    await expect(createToken({ actor: cli, email: "dev@example.com", scopes: "read", expires: "366d" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "expires",
    });
    const all = await createToken({ actor: cli, email: "dev@example.com", scopes: "all" });
    expect(all.scopes).toEqual(["read", "evidence", "request", "admission"]);
    // No lifetime asked for: the default (90 days), never "no expiry".
    const days = (all.expiresAt.getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
    process.env.IMPRIMATUR_TOKEN_MAX_DAYS = "30";
    resetEnvCache();
    try {
      await expect(createToken({ actor: cli, email: "dev@example.com", scopes: "read", expires: "31d" })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        message: expect.stringContaining("at most 30d"),
      });
    } finally {
      delete process.env.IMPRIMATUR_TOKEN_MAX_DAYS;
      resetEnvCache();
    }
    const stored = await db.apiToken.findUniqueOrThrow({ where: { id: all.id } });
    expect(stored.scopes).toEqual(["read", "evidence", "request", "admission"]);
  });

  it("an expired token is refused with 401", async () => {
    const t = await createToken({ actor: cli, email: "dev@example.com", scopes: "read", expires: "1d" });
    await db.apiToken.update({ where: { id: t.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const r = await call(imagesRoute.GET, "GET", "/api/v1/images", { token: t.token });
    expect(r.status).toBe(401);
    expect(r.body.error?.code).toBe("UNAUTHENTICATED");
  });

  it("users make tokens for themselves only; a token without admin scope cannot mint tokens", async () => {
    const dev = (await actorForUserId((await db.user.findUniqueOrThrow({ where: { email: "dev@example.com" } })).id, "session"))!;
    await expect(createToken({ actor: dev, email: "alice@example.com", scopes: "read" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const own = await createToken({ actor: dev, email: "dev@example.com", scopes: "all", expires: "1d" });
    const viaToken = await call(tokensRoute.POST, "POST", "/api/v1/tokens", { token: own.token, body: { scopes: ["read"] } });
    expect(viaToken.status).toBe(403);
    const admin = await createToken({ actor: cli, email: "admin@example.com", scopes: "admin", expires: "1d" });
    const made = await call(tokensRoute.POST, "POST", "/api/v1/tokens", {
      token: admin.token,
      body: { email: "dev@example.com", scopes: ["admission"], expires: "30d" },
    });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ email: "dev@example.com", scopes: ["admission"], token: expect.stringMatching(/^imp_/) });
    const bad = await call(tokensRoute.POST, "POST", "/api/v1/tokens", { token: admin.token, body: { scopes: ["read"], expires: "forever" } });
    expect(bad.status).toBe(422);
    expect(bad.body.error?.field).toBe("expires");
  });
});

describe("user lifecycle", () => {
  it("disabling ends sessions and tokens at once, enabling restores sessions but not tokens; every change audited", async () => {
    const bob = await db.user.findUniqueOrThrow({ where: { email: "bob@example.com" } });
    const t = await createToken({ actor: cli, email: "bob@example.com", scopes: "read", expires: "1d" });
    expect(await actorForToken(t.token)).not.toBeNull();
    expect(await actorForUserId(bob.id, "session")).not.toBeNull();
    const admin = await createToken({ actor: cli, email: "admin@example.com", scopes: "admin", expires: "1d" });
    const off = await call(userRoute.PATCH, "PATCH", "/api/v1/users/bob%40example.com", {
      token: admin.token,
      body: { disabled: true },
      params: { email: "bob%40example.com" },
    });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ user: { email: "bob@example.com", disabled: true }, revokedTokens: 1 });
    // The session cookie is a JWT naming the user id; getActor re-reads the user per request, so it stops here.
    expect(await actorForUserId(bob.id, "session")).toBeNull();
    expect(await actorForToken(t.token)).toBeNull();
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: t.id } })).revokedAt).not.toBeNull();
    await expect(createToken({ actor: cli, email: "bob@example.com", scopes: "read" })).rejects.toMatchObject({ code: "CONFLICT" });
    await updateUser({ actor: cli, email: "bob@example.com", disabled: false });
    expect(await actorForUserId(bob.id, "session")).not.toBeNull();
    expect(await actorForToken(t.token)).toBeNull();
    const events = await db.auditEvent.findMany({
      where: { target: "bob@example.com", action: { startsWith: "user.", not: "user.create" } },
      orderBy: { seq: "asc" },
    });
    expect(events.map((e) => e.action)).toEqual(["user.disable", "user.enable"]);
    expect(events[0]!.actorLabel).toBe("admin@example.com (token)");
  });

  it("refuses to delete a user the audit trail names, even with SQL", async () => {
    const bob = await db.user.findUniqueOrThrow({ where: { email: "bob@example.com" } });
    await expect(db.$executeRaw`DELETE FROM users WHERE id = ${bob.id}::uuid`).rejects.toThrow(/named by audit events: disable it/);
    expect(await db.user.count({ where: { id: bob.id } })).toBe(1);
    // A user nothing names can go (e.g. a typo fixed at once with SQL).
    const stray = await db.user.create({ data: { email: "stray@example.com", name: "stray", role: "developer", passwordHash: "!" } });
    await db.user.delete({ where: { id: stray.id } });
  });

  it("changes roles with audit, refuses bad input by field, and never leaves the installation without an admin", async () => {
    const admin = await createToken({ actor: cli, email: "admin@example.com", scopes: "admin", expires: "1d" });
    const p = (email: string, body: unknown) =>
      call(userRoute.PATCH, "PATCH", `/api/v1/users/${encodeURIComponent(email)}`, { token: admin.token, body, params: { email: encodeURIComponent(email) } });
    expect((await p("carol@example.com", { role: "manager" })).body).toMatchObject({ user: { role: "manager" } });
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "user.role", target: "carol@example.com" } });
    expect(ev.detail).toEqual({ from: "reviewer", to: "manager" });
    expect((await p("carol@example.com", { role: "root" })).body.error).toMatchObject({ code: "INVALID_INPUT", field: "role" });
    expect((await p("carol@example.com", { password: "sneaky-password" })).status).toBe(422);
    expect((await p("carol@example.com", {})).status).toBe(422);
    expect((await p("nobody@example.com", { disabled: true })).status).toBe(404);
    const garbled = await call(userRoute.PATCH, "PATCH", "/api/v1/users/%E0%A4%A", {
      token: admin.token,
      body: { disabled: true },
      params: { email: "%E0%A4%A" },
    });
    expect(garbled.body.error).toMatchObject({ code: "INVALID_INPUT", field: "email" });
    const last = await p("admin@example.com", { role: "reviewer" });
    expect(last.status).toBe(409);
    expect(last.body.error?.message).toContain("last enabled admin");
    expect((await p("admin@example.com", { disabled: true })).status).toBe(409);
    expect((await db.user.findUniqueOrThrow({ where: { email: "admin@example.com" } })).role).toBe("admin");
    // A developer's session cannot manage users.
    const dev = (await actorForUserId((await db.user.findUniqueOrThrow({ where: { email: "dev@example.com" } })).id, "session"))!;
    await expect(updateUser({ actor: dev, email: "carol@example.com", role: "admin" })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("the CLI disables, enables, changes roles and passwords, and makes scoped tokens", async () => {
    const run = (args: string[], input?: string) => {
      const r = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", join(root, "scripts/cli.ts"), ...args], {
        cwd: root,
        env: process.env,
        encoding: "utf8",
        input,
      });
      return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
    };
    const tok = run(["token", "create", "--email", "alice@example.com", "--scopes", "admission", "--expires", "30d"]);
    expect(tok.code).toBe(0);
    expect(tok.out).toContain("scopes admission");
    const actor = await actorForToken(tok.out.split("\n").pop()!);
    expect(actor).toMatchObject({ email: "alice@example.com", scopes: ["admission"] });
    expect(run(["token", "create", "--email", "alice@example.com", "--scopes", "admin"]).err).toMatch(/FORBIDDEN: scopes: a reviewer cannot hold admin/);
    const dis = run(["user", "disable", "--email", "alice@example.com"]);
    expect(dis.out).toContain("1 token(s) revoked");
    expect((await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" } })).disabled).toBe(true);
    expect(run(["user", "enable", "--email", "alice@example.com"]).code).toBe(0);
    expect(run(["user", "role", "--email", "alice@example.com", "--role", "developer"]).out).toContain("is now developer");
    expect(run(["user", "password", "--email", "alice@example.com"], "a-brand-new-password\n").code).toBe(0);
    const alice = await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" }, omit: { passwordHash: false } });
    expect(alice.disabled).toBe(false);
    expect(alice.role).toBe("developer");
    expect(await verifyPassword("a-brand-new-password", alice.passwordHash)).toBe(true);
    const actions = (
      await db.auditEvent.findMany({ where: { target: "alice@example.com", action: { startsWith: "user.", not: "user.create" } }, orderBy: { seq: "asc" } })
    ).map((e) => e.action);
    expect(actions).toEqual(["user.disable", "user.enable", "user.role", "user.password"]);
    // Six CLI processes (each loads tsx and the Prisma client): generous on a busy machine.
  }, 300_000);
});

// OpenID Connect sign-in end to end without a browser: next-auth's own handler (the code /api/auth/* runs) against a
// real oidc-provider on loopback, whose development login form is posted like a user would.
import { createRequire } from "node:module";
import { join } from "node:path";
import type { AuthOptions } from "next-auth";
import { decode } from "next-auth/jwt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startOidcProvider, type TestOidcProvider } from "../../../scripts/lib/oidc-provider.mjs";
import { freePort } from "../../../scripts/lib/services.mjs";
import { authOptions } from "../../auth";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { seedUsers } from "../../../scripts/seed";
import { upsertGroup } from "../groups/upsert-group";
import { createToken } from "../tokens/create-token";
import { updateUser } from "../users/update-user";
import { actorForToken } from "./authenticate";
import { oidcProviders } from "./oidc";
import { forgetCachedTokens } from "./token-cache";
import { parseRoleMap, roleForGroups } from "./sign-in-oidc";

// next-auth's framework-free core (what its route handler calls), loaded by path: the package does not export it.
type Internal<B> = { status?: number; body?: B; redirect?: string; cookies?: { name: string; value: string }[] };
const { AuthHandler } = createRequire(import.meta.url)(join(__dirname, "../../../node_modules/next-auth/core/index.js")) as {
  AuthHandler<B = unknown>(p: { req: Record<string, unknown>; options: AuthOptions }): Promise<Internal<B>>;
};

const SECRET = "integration-test-secret-0123456789";
const BASE = "http://127.0.0.1:39217";
let idp: TestOidcProvider;

const USERS = {
  sam: { email: "sam@corp.example", name: "Sam Security", groups: ["security", "app-team", "everyone"] },
  dana: { email: "dana@corp.example", name: "Dana Dev", groups: ["app-team"] },
  nogroups: { email: "nogroups@corp.example", name: "No Groups", groups: null },
  outsider: { email: "outsider@corp.example", name: "Out Sider", groups: ["marketing"] },
  leaver: { email: "leaver@corp.example", name: "Lee Leaver", groups: ["security"] as string[] },
  // Someone at the provider with the address of a password account here (seeded), and no mapped group.
  namesake: { email: "bob@example.com", name: "Not Bob", groups: ["marketing"] },
};

function setEnv(vars: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  resetEnvCache();
}

function configure(over: Record<string, string> = {}) {
  setEnv({
    NEXTAUTH_URL: BASE,
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: idp.clientId,
    OIDC_CLIENT_SECRET: idp.clientSecret,
    OIDC_ROLE_MAP: "security=reviewer,imprimatur-admins=admin,app-team=developer,auditors=manager",
    ...over,
  });
}

class Jar {
  readonly map = new Map<string, string>();
  addNextAuth(cookies: { name: string; value: string }[] | undefined) {
    for (const c of cookies ?? []) this.map.set(c.name, c.value);
  }
  addSetCookie(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      this.map.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header() {
    return [...this.map].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  record() {
    return Object.fromEntries(this.map);
  }
}

/** Runs the whole browser dance; returns where next-auth finally redirects and the session cookie it set, if any. */
async function signInAs(login: string): Promise<{ redirect: string; session: string | undefined }> {
  const options = { ...authOptions, providers: [...authOptions.providers.filter((p) => p.id !== "oidc"), ...oidcProviders()], secret: SECRET };
  const app = new Jar();
  const csrf = await AuthHandler<{ csrfToken: string }>({ req: { origin: BASE, method: "GET", action: "csrf", cookies: {}, headers: {}, query: {} }, options });
  app.addNextAuth(csrf.cookies);
  const start = await AuthHandler({
    req: {
      origin: BASE,
      method: "POST",
      action: "signin",
      providerId: "oidc",
      cookies: app.record(),
      headers: {},
      query: {},
      body: { csrfToken: csrf.body!.csrfToken, callbackUrl: `${BASE}/images` },
    },
    options,
  });
  app.addNextAuth(start.cookies);
  if (!start.redirect?.startsWith(idp.issuer)) return { redirect: start.redirect ?? "", session: undefined };
  const authUrl = new URL(start.redirect);
  // What next-auth asked the provider for: code flow, PKCE (S256), state and nonce.
  expect(authUrl.searchParams.get("response_type")).toBe("code");
  expect(authUrl.searchParams.get("code_challenge_method")).toBe("S256");
  expect(authUrl.searchParams.get("state")).toBeTruthy();
  expect(authUrl.searchParams.get("nonce")).toBeTruthy();
  expect(authUrl.searchParams.get("redirect_uri")).toBe(`${BASE}/api/auth/callback/oidc`);

  const idpJar = new Jar();
  let url = start.redirect;
  let callback: URL | null = null;
  for (let i = 0; i < 10 && !callback; i++) {
    const res = await fetch(url, { redirect: "manual", headers: { cookie: idpJar.header() } });
    idpJar.addSetCookie(res);
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get("location")!, url);
      if (next.href.startsWith(`${BASE}/api/auth/callback/oidc`)) callback = next;
      else url = next.href;
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    expect(action, html.slice(0, 500)).toBeTruthy();
    const form = new URLSearchParams({ prompt: "login", login, password: "any-password" });
    const post = await fetch(new URL(action!, url), {
      method: "POST",
      redirect: "manual",
      headers: { cookie: idpJar.header(), "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
    idpJar.addSetCookie(post);
    url = new URL(post.headers.get("location")!, url).href;
  }
  expect(callback).not.toBeNull();
  const done = await AuthHandler({
    req: {
      origin: BASE,
      method: "GET",
      action: "callback",
      providerId: "oidc",
      cookies: app.record(),
      headers: {},
      query: Object.fromEntries(callback!.searchParams),
    },
    options,
  });
  const session = done.cookies?.find((c) => c.name.endsWith("next-auth.session-token"))?.value;
  return { redirect: done.redirect ?? "", session };
}

/** Follows next-auth's /api/auth/error and /api/auth/signin hops to the page the browser lands on. */
async function landing(redirect: string): Promise<string> {
  let u = new URL(redirect, BASE);
  const options = { ...authOptions, providers: oidcProviders(), secret: SECRET };
  for (let i = 0; i < 3 && u.pathname.startsWith("/api/auth/"); i++) {
    const action = u.pathname.split("/")[3]!;
    const r = await AuthHandler({
      req: {
        origin: BASE,
        method: "GET",
        action,
        error: u.searchParams.get("error") ?? undefined,
        cookies: {},
        headers: {},
        query: Object.fromEntries(u.searchParams),
      },
      options,
    });
    u = new URL(r.redirect!, BASE);
  }
  // The page shows the message for `error`; callbackUrl is not what these tests are about.
  return `${u.pathname}?error=${u.searchParams.get("error")}`;
}

async function lastFailure() {
  // The logger's audit write is not awaited by next-auth; give it a moment.
  await new Promise((r) => setTimeout(r, 300));
  return db.auditEvent.findFirst({ where: { action: "auth.signin", outcome: "failure" }, orderBy: { seq: "desc" } });
}

beforeAll(async () => {
  await seedUsers();
  idp = await startOidcProvider({ redirectUris: [`${BASE}/api/auth/callback/oidc`], users: USERS });
  await upsertGroup({ actor: { kind: "cli", label: "test" }, name: "security", description: "security reviewers" });
  await upsertGroup({ actor: { kind: "cli", label: "test" }, name: "legacy", description: "a group the IdP does not send" });
});

afterEach(() => {
  idp.setTamper(null);
});

afterAll(async () => {
  setEnv({
    IMPRIMATUR_PASSWORD_LOGIN: undefined,
    OIDC_ISSUER: undefined,
    OIDC_CLIENT_ID: undefined,
    OIDC_CLIENT_SECRET: undefined,
    OIDC_ROLE_MAP: undefined,
    NEXTAUTH_URL: undefined,
  });
  await idp?.stop();
  await disconnectDb();
});

/** The audit row of a refused password sign-in (written without being awaited, so that the answer takes no longer). */
async function refusalAudited(email: string, reason: string) {
  for (let i = 0; i < 50; i++) {
    const ev = await db.auditEvent.findFirst({ where: { action: "auth.signin", outcome: "failure", target: email }, orderBy: { seq: "desc" } });
    if (ev && JSON.stringify(ev.detail).includes(reason)) return ev;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no audited refusal for ${email} (${reason})`);
}

describe("group mapping", () => {
  it("gives the highest mapped role and refuses bad maps", () => {
    const map = parseRoleMap("security=reviewer, imprimatur-admins=admin,app-team=developer,auditors=manager");
    expect(roleForGroups(["app-team", "security"], map)).toBe("reviewer");
    expect(roleForGroups(["auditors", "app-team"], map)).toBe("manager");
    expect(roleForGroups(["marketing"], map)).toBeNull();
    expect(() => parseRoleMap("security=root")).toThrow(/role must be one of/);
    expect(() => parseRoleMap("security")).toThrow(/not group=role/);
    expect(() => parseRoleMap("a=admin,a=developer")).toThrow(/twice/);
  });
});

describe("OpenID Connect sign-in", () => {
  it("creates the user on first sign-in with the mapped role and groups, audited with method oidc; refreshes both later", async () => {
    configure();
    const r = await signInAs("sam");
    expect(r.redirect).toBe(`${BASE}/images`);
    const user = await db.user.findUniqueOrThrow({ where: { email: "sam@corp.example" }, include: { memberships: { include: { group: true } } } });
    expect(user.role).toBe("reviewer");
    expect(user.oidcSubject).toBe(`${idp.issuer} sam`);
    expect(user.memberships.map((m) => m.group.name)).toEqual(["security"]);
    const claims = await decode({ token: r.session!, secret: SECRET });
    expect(claims?.sub).toBe(user.id);
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "auth.signin", actorId: user.id }, orderBy: { seq: "desc" } });
    expect(ev.outcome).toBe("success");
    expect(ev.detail).toMatchObject({ method: "oidc", role: "reviewer", groups: ["security"], joined: ["security"] });
    expect(await db.auditEvent.count({ where: { action: "user.create", target: "sam@corp.example" } })).toBe(1);

    // An admin added Sam to "legacy" by hand and made him a manager; the next sign-in restores what the provider says.
    await db.groupMember.create({ data: { userId: user.id, groupId: (await db.group.findUniqueOrThrow({ where: { name: "legacy" } })).id } });
    await updateUser({ actor: { kind: "cli", label: "test" }, email: "sam@corp.example", role: "manager" });
    USERS.sam.groups = ["app-team"];
    const again = await signInAs("sam");
    expect(again.redirect).toBe(`${BASE}/images`);
    const after = await db.user.findUniqueOrThrow({ where: { id: user.id }, include: { memberships: { include: { group: true } } } });
    expect(after.role).toBe("developer");
    expect(after.memberships).toEqual([]);
    const ev2 = await db.auditEvent.findFirstOrThrow({ where: { action: "auth.signin", actorId: user.id }, orderBy: { seq: "desc" } });
    expect(ev2.detail).toMatchObject({ method: "oidc", role: "developer", previousRole: "manager", left: ["legacy", "security"], joined: [] });
    expect(await db.user.count({ where: { email: "sam@corp.example" } })).toBe(1);
  });

  it("no mapped group: no access, a clear page, an audited failure, no user", async () => {
    configure();
    const r = await signInAs("outsider");
    expect(await landing(r.redirect)).toBe("/signin?error=OidcNoRole");
    expect(r.session).toBeUndefined();
    expect(await db.user.findUnique({ where: { email: "outsider@corp.example" } })).toBeNull();
    expect((await lastFailure())?.detail).toMatchObject({ method: "oidc", reason: expect.stringContaining("marketing") });
  });

  it("a missing groups claim is refused with its own message", async () => {
    configure();
    const r = await signInAs("nogroups");
    expect(await landing(r.redirect)).toBe("/signin?error=OidcNoGroups");
    expect((await lastFailure())?.detail).toMatchObject({ method: "oidc", reason: expect.stringContaining("groups claim is missing") });
  });

  it("a disabled user stays out", async () => {
    configure();
    expect((await signInAs("dana")).redirect).toBe(`${BASE}/images`);
    await updateUser({ actor: { kind: "cli", label: "test" }, email: "dana@corp.example", disabled: true });
    const r = await signInAs("dana");
    expect(await landing(r.redirect)).toBe("/signin?error=OidcDisabled");
    expect(r.session).toBeUndefined();
  });

  it("a linked user the provider no longer maps to a role is disabled here: sessions end, tokens are revoked, audited; an address match disables nothing", async () => {
    configure();
    expect((await signInAs("leaver")).redirect).toBe(`${BASE}/images`);
    const user = await db.user.findUniqueOrThrow({ where: { email: "leaver@corp.example" } });
    expect(user.role).toBe("reviewer");
    const token = await createToken({ actor: { kind: "cli", label: "test" }, email: "leaver@corp.example", name: "pipeline", scopes: ["read"] });
    // Removed from every mapped group at the provider; the next sign-in ends the account's access here too.
    USERS.leaver.groups = ["marketing"];
    const r = await signInAs("leaver");
    expect(await landing(r.redirect)).toBe("/signin?error=OidcNoRole");
    expect(r.session).toBeUndefined();
    const after = await db.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(after.disabled).toBe(true);
    expect(after.sessionsValidAfter!.getTime()).toBeGreaterThan(user.lastSignInAt!.getTime());
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: token.id } })).revokedAt).not.toBeNull();
    const disable = await db.auditEvent.findFirstOrThrow({ where: { action: "user.disable", target: "leaver@corp.example" } });
    expect(disable).toMatchObject({ actorType: "system", actorLabel: expect.stringContaining(idp.issuer), detail: { revokedTokens: 1 } });
    expect((await lastFailure())?.detail).toMatchObject({ reason: expect.stringContaining("the account linked to it is disabled") });
    // Back in a mapped group: still out until an admin enables the account again.
    USERS.leaver.groups = ["security"];
    expect(await landing((await signInAs("leaver")).redirect)).toBe("/signin?error=OidcDisabled");

    // An account here that merely shares the address is not the provider's to disable.
    const r2 = await signInAs("namesake");
    expect(await landing(r2.redirect)).toBe("/signin?error=OidcNoRole");
    expect((await db.user.findUniqueOrThrow({ where: { email: "bob@example.com" } })).disabled).toBe(false);
  });

  it("OIDC_TOKEN_SIGNIN_DAYS: a linked account's token stops once its owner has not signed in through the provider for that long, and one sign-in renews it; unlinked accounts are unaffected", async () => {
    configure({ OIDC_TOKEN_SIGNIN_DAYS: "30" });
    try {
      expect((await signInAs("sam")).redirect).toBe(`${BASE}/images`);
      const cli = { kind: "cli" as const, label: "test" };
      const linked = await createToken({ actor: cli, email: "sam@corp.example", name: "ci", scopes: ["read"] });
      const unlinked = await createToken({ actor: cli, email: "alice@example.com", name: "ci", scopes: ["read"] });
      expect(await actorForToken(linked.token)).toMatchObject({ email: "sam@corp.example" });
      // 31 days without a sign-in through the provider: someone it has removed would look exactly like this.
      const old = new Date(Date.now() - 31 * 86_400_000);
      await db.user.updateMany({ where: { email: { in: ["sam@corp.example", "alice@example.com"] } }, data: { lastSignInAt: old } });
      forgetCachedTokens();
      await expect(actorForToken(linked.token)).rejects.toThrow(
        "this API token belongs to an account linked to SSO, whose owner has not signed in through it for 30 days (OIDC_TOKEN_SIGNIN_DAYS); sign in once with SSO to use it again",
      );
      // A password account (not linked) is not the provider's: its token works.
      expect(await actorForToken(unlinked.token)).toMatchObject({ email: "alice@example.com" });
      // One sign-in renews every credential of the account.
      expect((await signInAs("sam")).redirect).toBe(`${BASE}/images`);
      forgetCachedTokens();
      expect(await actorForToken(linked.token)).toMatchObject({ email: "sam@corp.example" });
      // 0 (the default): no limit.
      await db.user.update({ where: { email: "sam@corp.example" }, data: { lastSignInAt: old } });
      configure({ OIDC_TOKEN_SIGNIN_DAYS: "0" });
      forgetCachedTokens();
      expect(await actorForToken(linked.token)).toMatchObject({ email: "sam@corp.example" });
    } finally {
      setEnv({ OIDC_TOKEN_SIGNIN_DAYS: undefined });
    }
  });

  it("a wrong client secret fails at the token endpoint: OAuthCallback, audited", async () => {
    configure({ OIDC_CLIENT_SECRET: "not-the-secret" });
    const r = await signInAs("sam");
    expect(await landing(r.redirect)).toBe("/signin?error=OAuthCallback");
    expect(r.session).toBeUndefined();
    expect((await lastFailure())?.detail).toMatchObject({ method: "oidc", stage: "OAUTH_CALLBACK_ERROR", reason: expect.stringMatching(/invalid_client/) });
  });

  for (const [what, tamper, pattern] of [
    ["issuer", (c: Record<string, unknown>) => ({ ...c, iss: "http://evil.example" }), /iss/],
    ["audience", (c: Record<string, unknown>) => ({ ...c, aud: "someone-else" }), /aud/],
    ["nonce", (c: Record<string, unknown>) => ({ ...c, nonce: "replayed-nonce" }), /nonce/],
  ] as [string, (c: Record<string, unknown>) => Record<string, unknown>, RegExp][]) {
    it(`an ID token with a wrong ${what} (validly signed) is refused: OAuthCallback, audited`, async () => {
      configure();
      idp.setTamper(tamper);
      const before = await db.user.count();
      const r = await signInAs("sam");
      expect(await landing(r.redirect)).toBe("/signin?error=OAuthCallback");
      expect(r.session).toBeUndefined();
      expect((await lastFailure())?.detail).toMatchObject({ method: "oidc", reason: expect.stringMatching(pattern) });
      expect(await db.user.count()).toBe(before);
    });
  }

  it("a provider that is down: OAuthSignin on the sign-in page, audited, never a 500", async () => {
    configure({ OIDC_ISSUER: `http://127.0.0.1:${await freePort()}` });
    const r = await signInAs("sam");
    expect(await landing(r.redirect)).toBe("/signin?error=OAuthSignin");
    expect((await lastFailure())?.detail).toMatchObject({ method: "oidc", stage: "SIGNIN_OAUTH_ERROR" });
  });
});

describe("password sign-in switched off", () => {
  async function passwordSignIn(email: string, password: string) {
    const options = { ...authOptions, providers: [...authOptions.providers.filter((p) => p.id !== "oidc"), ...oidcProviders()], secret: SECRET };
    const csrf = await AuthHandler<{ csrfToken: string }>({
      req: { origin: BASE, method: "GET", action: "csrf", cookies: {}, headers: {}, query: {} },
      options,
    });
    const jar = new Jar();
    jar.addNextAuth(csrf.cookies);
    const r = await AuthHandler({
      req: {
        origin: BASE,
        method: "POST",
        action: "callback",
        providerId: "credentials",
        cookies: jar.record(),
        headers: {},
        query: {},
        body: { csrfToken: csrf.body!.csrfToken, email, password, callbackUrl: `${BASE}/images` },
      },
      options,
    });
    return { redirect: r.redirect ?? "", session: r.cookies?.find((c) => c.name.endsWith("next-auth.session-token"))?.value };
  }

  it("an account linked to the provider takes no password while the provider is configured (admins included), audited", async () => {
    configure({ IMPRIMATUR_PASSWORD_LOGIN: "1" });
    const subject = `${idp.issuer} carol-at-the-provider`;
    await db.user.update({ where: { email: "carol@example.com" }, data: { oidcSubject: subject } });
    try {
      const carol = await passwordSignIn("carol@example.com", "carol-demo-pass");
      expect(carol.session).toBeUndefined();
      // The same answer as a wrong password (a distinct one told a guesser the password was right; found by review).
      expect(await landing(carol.redirect)).toBe("/signin?error=CredentialsSignin");
      expect(await landing((await passwordSignIn("carol@example.com", "not-her-password")).redirect)).toBe("/signin?error=CredentialsSignin");
      const ev = await refusalAudited("carol@example.com", "linked to the identity provider");
      expect(ev.detail).toMatchObject({ method: "password", reason: expect.stringContaining("linked to the identity provider") });
      // The role does not matter: a linked admin is refused too (the break-glass admin is an unlinked account).
      await db.user.update({ where: { email: "carol@example.com" }, data: { oidcSubject: null } });
      await db.user.update({ where: { email: "admin@example.com" }, data: { oidcSubject: subject } });
      expect((await passwordSignIn("admin@example.com", "admin-demo-pass")).session).toBeUndefined();
      // With no provider configured, nobody decides for the account but its password.
      setEnv({ OIDC_ISSUER: undefined, OIDC_CLIENT_ID: undefined, OIDC_CLIENT_SECRET: undefined });
      expect((await passwordSignIn("admin@example.com", "admin-demo-pass")).session).toBeTruthy();
    } finally {
      await db.user.updateMany({ where: { oidcSubject: subject }, data: { oidcSubject: null } });
      configure();
    }
    // An unlinked account signs in with its password as before.
    expect((await passwordSignIn("carol@example.com", "carol-demo-pass")).session).toBeTruthy();
  });

  it("IMPRIMATUR_PASSWORD_LOGIN=0 refuses passwords except for the break-glass admin, audited", async () => {
    configure({ IMPRIMATUR_PASSWORD_LOGIN: "1" });
    expect((await passwordSignIn("dev@example.com", "dev-demo-pass")).session).toBeTruthy();
    configure({ IMPRIMATUR_PASSWORD_LOGIN: "0" });
    const dev = await passwordSignIn("dev@example.com", "dev-demo-pass");
    expect(dev.session).toBeUndefined();
    expect(await landing(dev.redirect)).toBe("/signin?error=CredentialsSignin");
    const ev = await refusalAudited("dev@example.com", "IMPRIMATUR_PASSWORD_LOGIN=0");
    expect(ev.detail).toMatchObject({ method: "password", reason: expect.stringContaining("IMPRIMATUR_PASSWORD_LOGIN=0") });
    const admin = await passwordSignIn("admin@example.com", "admin-demo-pass");
    expect(admin.session).toBeTruthy();
    expect((await db.user.findUniqueOrThrow({ where: { email: "admin@example.com" } })).lastSignInAt).not.toBeNull();
  });
});

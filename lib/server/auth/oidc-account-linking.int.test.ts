// Linking an OpenID Connect identity to an existing Imprimatur account (sign-in-oidc.ts). Linking by address hands the
// account (its role, approvals, requests and audit history) to whoever holds the provider account, so it happens only
// when the provider says the address is verified. Found by a security review: `email_verified: "false"` as a string
// (AWS Cognito's userinfo) took over the admin account and demoted it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { emailVerified, signInOidc } from "./sign-in-oidc";

const ISSUER = "https://idp.example.com/realms/corp";
const roleMap = new Map([
  ["security", "reviewer" as const],
  ["everyone", "developer" as const],
]);
const signIn = (claims: Record<string, unknown>) => signInOidc({ issuer: ISSUER, claims: { groups: ["everyone"], ...claims }, groupsClaim: "groups", roleMap });
const account = (email: string) => db.user.findUniqueOrThrow({ where: { email }, omit: { passwordHash: true } });

beforeAll(async () => {
  await seedUsers();
});

afterAll(async () => {
  await disconnectDb();
});

describe("OpenID Connect account linking", () => {
  it("reads email_verified as booleans or the strings providers send, and nothing else", () => {
    expect([true, "true", " TRUE "].map(emailVerified)).toEqual([true, true, true]);
    expect([false, "false", "False"].map(emailVerified)).toEqual([false, false, false]);
    expect([undefined, null, 1, "yes", {}].map(emailVerified)).toEqual([null, null, null, null, null]);
  });

  it('refuses an existing account to an address the provider says is unverified, "false" as a string included', async () => {
    const r = await signIn({ sub: "attacker-1", email: "admin@example.com", email_verified: "false" });
    expect(r).toMatchObject({ ok: false, refusal: "OidcProfile" });
    expect(await account("admin@example.com")).toMatchObject({ oidcSubject: null, role: "admin" });
  });

  it("refuses an existing account when the provider does not say the address is verified; a new one is created", async () => {
    const r = await signIn({ sub: "attacker-2", email: "admin@example.com" });
    expect(r).toMatchObject({ ok: false, refusal: "OidcProfile", reason: expect.stringContaining("verified") });
    expect(await account("admin@example.com")).toMatchObject({ oidcSubject: null, role: "admin" });
    // Nobody holds the address yet: the provider's account becomes a new user (the subject, not the address, is the link).
    const fresh = await signIn({ sub: "newcomer-1", email: "newcomer@example.com" });
    expect(fresh).toMatchObject({ ok: true, created: true, role: "developer" });
  });

  it('links an existing account when the address is verified ("true" as a string too), and the subject decides afterwards', async () => {
    const r = await signIn({ sub: "dev-idp", email: "dev@example.com", email_verified: "true" });
    expect(r).toMatchObject({ ok: true, created: false });
    const dev = await account("dev@example.com");
    expect(dev.oidcSubject).toBe(`${ISSUER} dev-idp`);
    // The same provider account, its address now changed to another user's (verified): still the same Imprimatur user,
    // never the one holding the new address.
    const moved = await signIn({ sub: "dev-idp", email: "carol@example.com", email_verified: true });
    expect(moved).toMatchObject({ ok: true, userId: dev.id });
    expect(await account("carol@example.com")).toMatchObject({ oidcSubject: null });
    // Another provider account claiming a linked address is refused.
    expect(await signIn({ sub: "someone-else", email: "dev@example.com", email_verified: true })).toMatchObject({ ok: false, refusal: "OidcProfile" });
  });

  it("a provider name that could pass for another account's carries the address; its own name again does not clash", async () => {
    const named = async (sub: string, email: string, name: string) => {
      expect(await signIn({ sub, email, name, email_verified: true })).toMatchObject({ ok: true });
      return (await account(email)).name;
    };
    // Carol Security Lead is a seeded reviewer: the same name, in any case, spacing or with invisible characters, is marked.
    expect(await named("mallory-1", "mallory1@corp.example", "Carol Security Lead")).toBe("Carol Security Lead (mallory1@corp.example)");
    expect(await named("mallory-2", "mallory2@corp.example", "carol  security\u200b LEAD")).toBe("carol security LEAD (mallory2@corp.example)");
    // Latin mixed with a Cyrillic lookalike.
    expect(await named("mallory-3", "mallory3@corp.example", "\u0410lice Admin")).toBe("\u0410lice Admin (mallory3@corp.example)");
    // A name nobody else has is kept as sent, and signing in again with it does not clash with the account itself.
    expect(await named("pat-1", "pat@corp.example", "Pat Platform")).toBe("Pat Platform");
    expect(await named("pat-1", "pat@corp.example", "Pat Platform")).toBe("Pat Platform");
  });
});

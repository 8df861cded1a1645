// Email claims an identity provider may send that are not plain addresses. Found by review: JavaScript's toLowerCase
// folds the Kelvin sign (U+212A) to "k", so a user of any provider whose email claim was "\u212Aate@example.com" was
// created as kate@example.com, shown as her in approvals and the audit trail, and the real kate was then refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { signInOidc } from "./sign-in-oidc";

const ISSUER = "https://idp.example.com/realms/claims";
const roleMap = new Map([["everyone", "developer" as const]]);
const signIn = (claims: Record<string, unknown>) => signInOidc({ issuer: ISSUER, claims: { groups: ["everyone"], ...claims }, groupsClaim: "groups", roleMap });

beforeAll(async () => seedUsers());
afterAll(async () => disconnectDb());

describe("an email claim that is not printable ASCII", () => {
  it("is not taken as an address: no account is made for it, and the owner of the ASCII address still signs in", async () => {
    for (const [sub, email] of [
      ["kelvin", "\u212Aate@example.com"],
      ["nul", "kate@example.com\u0000"],
      ["long-s", "\u017Fam@example.com"],
    ] as const) {
      const r = await signIn({ sub, email, email_verified: true, name: "Kate" });
      expect(r.ok).toBe(false);
      expect(await db.user.count({ where: { oidcSubject: `${ISSUER} ${sub}` } })).toBe(0);
    }
    const real = await signIn({ sub: "kate", email: "Kate@Example.com", email_verified: true, name: "Kate" });
    expect(real.ok).toBe(true);
    expect((await db.user.findFirstOrThrow({ where: { oidcSubject: `${ISSUER} kate` } })).email).toBe("kate@example.com");
  });
});

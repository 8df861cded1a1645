// Email claims an identity provider may send that are not plain addresses. Found by review: JavaScript's toLowerCase
// folds the Kelvin sign (U+212A) to "k", so a user of any provider whose email claim was "\u212Aate@example.com" was
// created as kate@example.com, shown as her in approvals and the audit trail, and the real kate was then refused.
// Found by the next review: refusing every non-ASCII address locked out internationalised ones; only ASCII is folded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { signInOidc } from "./sign-in-oidc";

const ISSUER = "https://idp.example.com/realms/claims";
const roleMap = new Map([["everyone", "developer" as const]]);
const signIn = (claims: Record<string, unknown>) => signInOidc({ issuer: ISSUER, claims: { groups: ["everyone"], ...claims }, groupsClaim: "groups", roleMap });

beforeAll(async () => seedUsers());
afterAll(async () => disconnectDb());

describe("an email claim with characters beyond ASCII", () => {
  it("is never folded into someone else's address, and one with control characters or spaces is not taken at all", async () => {
    // Kept as the provider sent it (lower-cased as ASCII only): a different address, a different account.
    const kelvin = await signIn({ sub: "kelvin", email: "\u212Aate@example.com", email_verified: true, name: "Kate" });
    expect(kelvin.ok).toBe(true);
    expect((await db.user.findFirstOrThrow({ where: { oidcSubject: `${ISSUER} kelvin` } })).email).toBe("\u212Aate@example.com");
    for (const [sub, email] of [
      ["nul", "kate@example.com\u0000"],
      ["space", "kate @example.com"],
      ["nbsp", "kate\u00a0@example.com"],
    ] as const) {
      const r = await signIn({ sub, email, email_verified: true, name: "Kate" });
      expect(r.ok).toBe(false);
      expect(await db.user.count({ where: { oidcSubject: `${ISSUER} ${sub}` } })).toBe(0);
    }
    // The owner of the ASCII address signs in, as herself.
    const real = await signIn({ sub: "kate", email: "Kate@Example.com", email_verified: true, name: "Kate" });
    expect(real.ok).toBe(true);
    expect((await db.user.findFirstOrThrow({ where: { oidcSubject: `${ISSUER} kate` } })).email).toBe("kate@example.com");
    // An internationalised address is a usable claim.
    expect((await signIn({ sub: "jurgen", email: "j\u00fcrgen@example.com", email_verified: true, name: "J\u00fcrgen" })).ok).toBe(true);
  });
});

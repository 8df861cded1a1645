// Sessions are stateless JWT cookies (lib/auth.ts). A password reset or a disable must still end the sessions signed in
// before it: the cookie carries its sign-in time, the user row the time from which sessions count (a security review
// noted that a reset password left an attacker's session working for its 12 hours).
import type { JWT } from "next-auth/jwt";
import type { Session } from "next-auth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { authOptions } from "../../auth";
import { db, disconnectDb } from "../../db";
import type { Actor } from "../actor";
import { updateUser } from "./update-user";

const admin: Actor = { kind: "system", label: "sessions-end test" };
const jwt = authOptions.callbacks!.jwt! as unknown as (a: { token: JWT; user?: { id: string } }) => Promise<JWT>;
const session = authOptions.callbacks!.session! as unknown as (a: { session: Session; token: JWT }) => Promise<Session & { uid?: string }>;

/** What next-auth does at sign-in and on a later request: the jwt callback with the user, then the session callback. */
async function signIn(userId: string): Promise<JWT> {
  return jwt({ token: {}, user: { id: userId } });
}
async function uidFor(token: JWT): Promise<string | undefined> {
  return (await session({ session: { expires: new Date(Date.now() + 3600_000).toISOString() } as Session, token })).uid;
}

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

describe("ending sessions", () => {
  it("a password reset ends the sessions signed in before it; a sign-in after it works", async () => {
    const bob = await db.user.findUniqueOrThrow({ where: { email: "bob@example.com" } });
    const before = await signIn(bob.id);
    expect(await uidFor(before)).toBe(bob.id);
    await new Promise((r) => setTimeout(r, 5));
    await updateUser({ actor: admin, email: "bob@example.com", password: "a-new-long-password" });
    expect(await uidFor(before)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 5));
    const after = await signIn(bob.id);
    expect(await uidFor(after)).toBe(bob.id);
  });

  it("a disable ends them for good: enabling again does not bring back a session from before", async () => {
    const alice = await db.user.findUniqueOrThrow({ where: { email: "alice@example.com" } });
    const before = await signIn(alice.id);
    expect(await uidFor(before)).toBe(alice.id);
    await new Promise((r) => setTimeout(r, 5));
    await updateUser({ actor: admin, email: "alice@example.com", disabled: true });
    expect(await uidFor(before)).toBeUndefined();
    await updateUser({ actor: admin, email: "alice@example.com", disabled: false });
    expect(await uidFor(before)).toBeUndefined();
  });

  it("a cookie from before sign-in times were recorded counts as signed in at 0 once a reset happened", async () => {
    const carol = await db.user.findUniqueOrThrow({ where: { email: "carol@example.com" } });
    const legacy: JWT = { sub: carol.id };
    expect(await uidFor(legacy)).toBe(carol.id);
    await updateUser({ actor: admin, email: "carol@example.com", password: "another-long-password" });
    expect(await uidFor(legacy)).toBeUndefined();
  });
});

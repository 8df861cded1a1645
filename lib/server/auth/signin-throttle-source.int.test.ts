// Review findings (edge): a password sign-in whose e-mail held a control character returned before the throttle (while
// still costing a scrypt), and each IPv6 address was its own source, so one host on its /64 sprayed unthrottled.
import { createHmac, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { authenticatePassword, SigninThrottledError } from "./authenticate";
import { clientAddress } from "./client-address";
import { SIGNIN_THROTTLE } from "./signin-throttle";

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

/** Runs `n` sign-ins, the i-th from `sourceOf(i)` as `emailOf(i)`; how many were throttled. */
async function throttledOf(n: number, emailOf: (i: number) => string, sourceOf: (i: number) => string): Promise<number> {
  let throttled = 0;
  for (let i = 1; i <= n; i++) {
    try {
      await authenticatePassword(emailOf(i), "guess", sourceOf(i));
    } catch (e) {
      if (e instanceof SigninThrottledError) throttled++;
      else throw e;
    }
  }
  return throttled;
}

describe("sign-in throttling per source", () => {
  it("counts an attempt whose e-mail holds a control character", async () => {
    const n = SIGNIN_THROTTLE.perSource + 10;
    expect(
      await throttledOf(
        n,
        (i) => `x${i}\u0001@example.com`,
        () => "203.0.113.77",
      ),
    ).toBe(10);
    // Only the source was charged: the account key would have dropped the control character and named x1@example.com.
    expect(await db.$queryRaw`SELECT key FROM signin_throttle WHERE key LIKE 'account:x%@example.com'`).toEqual([]);
  }, 120_000);

  it("counts one IPv6 client (its /64) as one source, and keeps the full address in the failure counts", async () => {
    const secret = randomBytes(32);
    (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret = secret;
    const stamped = (peer: string) =>
      new Headers({ "x-imprimatur-peer": peer, "x-imprimatur-peer-mac": createHmac("sha256", secret).update(peer).digest("hex") });
    try {
      // One host on one /64 (every home and cloud VM gets at least that many addresses): a new address per attempt.
      const source = (i: number) => clientAddress(stamped(`2001:db8:1:2::${i.toString(16)}`), []);
      expect(await throttledOf(SIGNIN_THROTTLE.perSource + 10, (i) => `spray-${i}@example.com`, source)).toBe(10);
      // The next /64 is another source.
      expect(
        await throttledOf(
          1,
          () => "spray-x@example.com",
          () => clientAddress(stamped("2001:db8:1:3::1"), []),
        ),
      ).toBe(0);
      // An IPv4-mapped peer counts as its IPv4 address.
      const v4 = "198.51.100.200";
      await throttledOf(
        SIGNIN_THROTTLE.perSource,
        (i) => `v4-${i}@example.com`,
        () => v4,
      );
      expect(
        await throttledOf(
          1,
          () => "v4-x@example.com",
          () => clientAddress(stamped(`::ffff:${v4}`), []),
        ),
      ).toBe(1);
      const counted = await db.$queryRaw<{ source: string }[]>`SELECT DISTINCT source FROM auth_failure_counts WHERE source LIKE '2001:db8:1:2::%'`;
      expect(counted.length).toBe(SIGNIN_THROTTLE.perSource + 10);
    } finally {
      delete (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret;
    }
  }, 180_000);
});

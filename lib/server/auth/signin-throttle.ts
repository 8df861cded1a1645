import "server-only";
import { db } from "../../db";
import { throttleSource } from "./client-address";

/**
 * Sign-in throttling, with its state in Postgres so every replica agrees. Attempts are counted per account and per
 * source address in a fixed window that starts with the first attempt; past the limit, attempts are refused without
 * the password being checked until the window ends. A successful sign-in clears the account's count and gives the
 * source its attempt back, so a busy NAT of honest users is not throttled by its own successes.
 */
export const SIGNIN_THROTTLE = {
  windowSeconds: 15 * 60,
  /** Attempts per account per window: enough for typos, far too few for guessing. */
  perAccount: 10,
  /** Attempts per source address per window, over all accounts. */
  perSource: 50,
} as const;

export type ThrottleVerdict = { blocked: false } | { blocked: true; retryAfterSeconds: number; reason: string };

// Control characters (NUL above all: Postgres refuses it in text) are dropped from keys; such an address names no
// account anyway, and the sign-in fails later as any wrong e-mail does.

const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, "");
const accountKey = (email: string) => `account:${clean(email.trim().toLowerCase().slice(0, 254))}`;
// A source is counted by throttleSource: an IPv6 client as its /64, which one host can spray from (found by review).
const sourceKey = (source: string) => `source:${throttleSource(clean(source.slice(0, 100)))}`;

function verdict(rows: { key: string; attempts: number; retry: number }[], limitOf: (key: string) => number, strictlyOver: boolean): ThrottleVerdict {
  let worst: { retry: number; key: string } | null = null;
  for (const r of rows) {
    const limit = limitOf(r.key);
    if (strictlyOver ? r.attempts > limit : r.attempts >= limit) {
      if (!worst || r.retry > worst.retry) worst = { retry: r.retry, key: r.key };
    }
  }
  if (!worst) return { blocked: false };
  const what = worst.key.startsWith("account:") ? "this account" : "this address";
  return {
    blocked: true,
    retryAfterSeconds: Math.max(1, Math.ceil(worst.retry)),
    reason: `too many sign-in attempts for ${what}; try again in ${Math.ceil(worst.retry / 60)} minute(s)`,
  };
}

const limitOf = (key: string) => (key.startsWith("account:") ? SIGNIN_THROTTLE.perAccount : SIGNIN_THROTTLE.perSource);

/** Read-only: whether the next attempt would be refused (the route checks this before next-auth runs at all). */
export async function checkSigninThrottle({ email, source }: { email: string; source: string }): Promise<ThrottleVerdict> {
  const keys = [sourceKey(source), ...(email ? [accountKey(email)] : [])];
  const rows = await db.$queryRaw<{ key: string; attempts: number; retry: number }[]>`
    SELECT key, attempts, EXTRACT(EPOCH FROM (window_start + make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds}) - now()))::float8 AS retry
    FROM signin_throttle
    WHERE key = ANY(${keys}::text[]) AND window_start > now() - make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds})`;
  return verdict(rows, limitOf, false);
}

/**
 * Counts one attempt for the account and the source, atomically (INSERT … ON CONFLICT, so concurrent attempts on
 * other replicas are counted too), and says whether it is over the limit. Call before checking the password.
 */
export async function consumeSigninAttempt({ email, source }: { email: string; source: string }): Promise<ThrottleVerdict> {
  const keys = [sourceKey(source), ...(email ? [accountKey(email)] : [])];
  const rows = await db.$queryRaw<{ key: string; attempts: number; retry: number }[]>`
    INSERT INTO signin_throttle (key, window_start, attempts)
    SELECT k, now(), 1 FROM unnest(${keys}::text[]) AS k
    ON CONFLICT (key) DO UPDATE SET
      attempts = CASE WHEN signin_throttle.window_start <= now() - make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds}) THEN 1 ELSE signin_throttle.attempts + 1 END,
      window_start = CASE WHEN signin_throttle.window_start <= now() - make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds}) THEN now() ELSE signin_throttle.window_start END
    RETURNING key, attempts, EXTRACT(EPOCH FROM (window_start + make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds}) - now()))::float8 AS retry`;
  return verdict(rows, limitOf, true);
}

/** After a successful sign-in: the account starts afresh, and the source gets this attempt back. */
export async function clearSigninAttempts({ email, source }: { email: string; source: string }): Promise<void> {
  await db.$executeRaw`DELETE FROM signin_throttle WHERE key = ${accountKey(email)}`;
  await db.$executeRaw`UPDATE signin_throttle SET attempts = GREATEST(attempts - 1, 0) WHERE key = ${sourceKey(source)}`;
}

/** Drops windows that have ended (scheduler tick), so guessed e-mail addresses do not accumulate rows. */
export async function purgeSigninThrottle(): Promise<number> {
  return db.$executeRaw`DELETE FROM signin_throttle WHERE window_start <= now() - make_interval(secs => ${SIGNIN_THROTTLE.windowSeconds})`;
}

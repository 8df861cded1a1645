import "server-only";
import { db, pgPool } from "../../db";
import { AppError } from "../../errors";
import { burnPasswordCheck, verifyPassword } from "../../password";
import type { Actor, Role } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { hashToken, TOKEN_PREFIX } from "../tokens/token-format";
import { countAuthFailure } from "./count-auth-failure";
import { cachedToken, rememberToken } from "./token-cache";
import { ssoRecencyRefusal, ssoSignInDueAt } from "./sso-recency";
import { clearSigninAttempts, consumeSigninAttempt } from "./signin-throttle";
import { passwordRefusal } from "./oidc";

/** A sign-in refused by the throttle (lib/server/auth/signin-throttle.ts), before the password was checked. */
export class SigninThrottledError extends AppError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super("RATE_LIMITED", message);
  }
}

/**
 * Checks email + password for a sign-in from `source` (the client address, see client-address.ts). Attempts are
 * throttled per account and per source (throws SigninThrottledError past the limit, without checking the password).
 * A success is audited; a failure is counted per source and minute (count-auth-failure.ts), not audited row by row.
 */
export async function authenticatePassword(email: string, password: string, source: string): Promise<{ id: string } | null> {
  const normalized = email.trim().toLowerCase().slice(0, 254);
  // Postgres refuses NUL in text; control characters are never part of an address, so such an e-mail names no account
  // and is a plain failure, not a DB error. It is still an attempt from its source and counted as one (it used to
  // return before the throttle, while burning a scrypt: found by review). Only the source is counted, as the account
  // key would drop the control characters and charge someone else's account; the password is not hashed, since the
  // refusal depends on nothing secret.
  const badEmail = /[\u0000-\u001f\u007f]/.test(normalized);
  const throttle = await consumeSigninAttempt({ email: badEmail ? "" : normalized, source });
  if (throttle.blocked) {
    await countAuthFailure({ source, kind: "signin" });
    throw new SigninThrottledError(throttle.reason, throttle.retryAfterSeconds);
  }
  if (badEmail) {
    await countAuthFailure({ source, kind: "signin" });
    return null;
  }
  // One of the two places that read the password hash (with changeOwnPassword; omitted elsewhere: lib/db.ts SECRET_COLUMNS).
  const user = await db.user.findUnique({ where: { email: normalized }, omit: { passwordHash: false } });
  const ok = user && !user.disabled ? await verifyPassword(password, user.passwordHash) : (await burnPasswordCheck(password), false);
  if (!ok || !user) {
    await countAuthFailure({ source, kind: "signin" });
    return null;
  }
  // An account that may not use a password here is refused exactly as a wrong password is, and its attempts are not
  // cleared: a distinct answer after a correct password (found by review) told a guesser the password was right.
  const refusal = passwordRefusal(user);
  if (refusal) {
    await countAuthFailure({ source, kind: "signin" });
    // Not awaited: the audit append waits for the chain's lock, and a refusal that took longer than a wrong password
    // would tell the guesser the same thing the error used to.
    void recordAuditEvent({
      actor: { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via: "session" },
      action: "auth.signin",
      outcome: "failure",
      target: user.email,
      detail: { method: "password", reason: refusal },
    }).catch((e: unknown) => console.error("[auth] audit of a refused password sign-in failed", e));
    return null;
  }
  await clearSigninAttempts({ email: normalized, source });
  await recordAuditEvent({
    actor: { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via: "session" },
    action: "auth.signin",
    outcome: "success",
    detail: { source: `web ${source}` },
  });
  return { id: user.id };
}

/**
 * Loads the user on every request, so a demoted or disabled user loses rights at once. For a session, `signedInAt`
 * (ms; 0 when the cookie predates the field) must not be before the user's sessionsValidAfter: a password reset or a
 * disable ends the sessions signed in before it.
 */
export async function actorForUserId(id: string, via: "session" | "token", signedInAt?: number): Promise<Actor | null> {
  const user = await db.user.findUnique({
    where: { id },
    select: { id: true, email: true, name: true, role: true, disabled: true, sessionsValidAfter: true },
  });
  if (!user || user.disabled) return null;
  if (via === "session" && signedInAt !== undefined && user.sessionsValidAfter && signedInAt < user.sessionsValidAfter.getTime()) return null;
  return { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via };
}

/** Token and user in one indexed read (a named prepared statement: parsed and planned once per connection). */
const TOKEN_LOOKUP = {
  name: "imprimatur_actor_for_token_v2",
  text: `SELECT t.id, t.last_used_at, t.expires_at, t.scopes, u.id AS user_id, u.email, u.name, u.role::text AS role,
      u.oidc_subject IS NOT NULL AS linked, u.last_sign_in_at
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled`,
};

/** The advisory last-use time of one token (a named prepared statement, as the lookup). */
const TOKEN_TOUCH = { name: "imprimatur_token_touch", text: `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1::uuid` };

type TokenRow = {
  id: string;
  last_used_at: Date | null;
  expires_at: Date | null;
  scopes: string[] | null;
  user_id: string;
  email: string;
  name: string;
  role: string;
  linked: boolean;
  last_sign_in_at: Date | null;
};

/**
 * The actor an API token stands for, or null. Pipelines and admission webhooks send a token on every request, so a
 * lookup is remembered for at most a second per replica (token-cache.ts: a revocation, an expiry, a disabled user or
 * a role change is effective everywhere within that second). The read goes straight to the pool: at admission
 * rates Prisma's raw-query path cost more CPU than the statement itself.
 */
export async function actorForToken(token: string): Promise<Actor | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const hash = hashToken(token);
  let entry = cachedToken(hash);
  if (!entry) {
    const readAt = Date.now();
    const { rows } = await pgPool().query<TokenRow>({ ...TOKEN_LOOKUP, values: [hash] });
    const row = rows[0];
    if (!row) return null;
    const actor: Actor = { kind: "user", id: row.user_id, email: row.email, name: row.name, role: row.role as Role, via: "token", scopes: row.scopes ?? [] };
    entry = {
      tokenId: row.id,
      actor,
      expiresAt: row.expires_at,
      lastUsedAt: row.last_used_at,
      readAt,
      signInDueAt: ssoSignInDueAt({ linked: row.linked, lastSignInAt: row.last_sign_in_at }),
    };
    rememberToken(hash, entry);
  }
  const stale = ssoRecencyRefusal(entry.signInDueAt, "this API token");
  if (stale) throw new AppError("UNAUTHENTICATED", stale);
  // lastUsedAt is advisory; at most one write a minute per token (and replica).
  if (!entry.lastUsedAt || Date.now() - entry.lastUsedAt.getTime() > 60_000) {
    entry.lastUsedAt = new Date();
    // Straight to the pool, as the lookup: a deleted token updates nothing (Prisma's update threw, a 500).
    await pgPool().query({ ...TOKEN_TOUCH, values: [entry.tokenId, entry.lastUsedAt] });
  }
  // A copy: a caller cannot change what the next request is given (scopes are readonly).
  return { ...entry.actor };
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { burnPasswordCheck, verifyPassword } from "../../password";
import type { Actor, Role } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { hashToken, TOKEN_PREFIX } from "../tokens/token-format";
import { countAuthFailure } from "./count-auth-failure";
import { clearSigninAttempts, consumeSigninAttempt } from "./signin-throttle";

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
  // Postgres refuses NUL in text; control characters are never part of an address. A plain failure, not a DB error.

  if (/[\u0000-\u001f\u007f]/.test(normalized)) {
    await burnPasswordCheck(password);
    await countAuthFailure({ source, kind: "signin" });
    return null;
  }
  const throttle = await consumeSigninAttempt({ email: normalized, source });
  if (throttle.blocked) {
    await countAuthFailure({ source, kind: "signin" });
    throw new SigninThrottledError(throttle.reason, throttle.retryAfterSeconds);
  }
  // The one place that reads the password hash (omitted from every other query: lib/db.ts SECRET_COLUMNS).
  const user = await db.user.findUnique({ where: { email: normalized }, omit: { passwordHash: false } });
  const ok = user && !user.disabled ? await verifyPassword(password, user.passwordHash) : (await burnPasswordCheck(password), false);
  if (!ok || !user) {
    await countAuthFailure({ source, kind: "signin" });
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

/** Loads the user on every request, so a demoted or disabled user loses rights at once. */
export async function actorForUserId(id: string, via: "session" | "token"): Promise<Actor | null> {
  const user = await db.user.findUnique({ where: { id }, select: { id: true, email: true, name: true, role: true, disabled: true } });
  if (!user || user.disabled) return null;
  return { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via };
}

export async function actorForToken(token: string): Promise<Actor | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  // Token and user in one round-trip: pipelines and admission webhooks call with a token on every request.
  const [row] = await db.$queryRaw<{ id: string; last_used_at: Date | null; scopes: string[]; user_id: string; email: string; name: string; role: string }[]>`
    SELECT t.id, t.last_used_at, t.scopes, u.id AS user_id, u.email, u.name, u.role::text AS role
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = ${hashToken(token)} AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled`;
  if (!row) return null;
  // lastUsedAt is advisory; at most one write a minute per token.
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
  }
  return { kind: "user", id: row.user_id, email: row.email, name: row.name, role: row.role as Role, via: "token", scopes: row.scopes ?? [] };
}

import "server-only";
import { db } from "../../db";
import { burnPasswordCheck, verifyPassword } from "../../password";
import type { Actor, Role } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { hashToken, TOKEN_PREFIX } from "../tokens/token-format";

/** Checks email + password and audits the attempt either way. Returns the user id, or null. */
export async function authenticatePassword(email: string, password: string, source: string): Promise<{ id: string } | null> {
  const normalized = email.trim().toLowerCase().slice(0, 254);
  const user = await db.user.findUnique({ where: { email: normalized } });
  const ok = user && !user.disabled ? await verifyPassword(password, user.passwordHash) : (await burnPasswordCheck(password), false);
  await recordAuditEvent({
    actor: user ? { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via: "session" } : { kind: "anonymous", label: normalized || "(empty)" },
    action: "auth.signin",
    outcome: ok ? "success" : "failure",
    detail: { source, ...(ok ? {} : { reason: !user ? "unknown user" : user.disabled ? "disabled" : "wrong password" }) },
  });
  return ok && user ? { id: user.id } : null;
}

/** Loads the user on every request, so a demoted or disabled user loses rights at once. */
export async function actorForUserId(id: string, via: "session" | "token"): Promise<Actor | null> {
  const user = await db.user.findUnique({ where: { id }, select: { id: true, email: true, name: true, role: true, disabled: true } });
  if (!user || user.disabled) return null;
  return { kind: "user", id: user.id, email: user.email, name: user.name, role: user.role as Role, via };
}

export async function actorForToken(token: string): Promise<Actor | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) } });
  if (!row || row.revokedAt || (row.expiresAt && row.expiresAt <= new Date())) return null;
  // lastUsedAt is advisory; at most one write a minute per token.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
  }
  return actorForUserId(row.userId, "token");
}

import "server-only";
import { z } from "zod";
import { db } from "../../db";
import { AppError } from "../../errors";
import { hashPassword, verifyPassword } from "../../password";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { clearSigninAttempts, consumeSigninAttempt } from "../auth/signin-throttle";
import { forgetCachedTokens } from "../auth/token-cache";
import { lineageEmails, passwordSetByOther } from "./password-standing";

export interface ChangeOwnPasswordOptions {
  actor: Actor;
  /** The password the account signs in with now (a temporary one an admin set, or the user's own). */
  currentPassword: string;
  newPassword: string;
}

export const changeOwnPasswordInput = z
  .object({
    currentPassword: z.string().min(1, "give your current password").max(1024),
    newPassword: z.string().min(8, "password must be at least 8 characters").max(1024),
  })
  .strict();

/**
 * A signed-in user sets their own password. This is how a temporary password (set by an admin, password-standing.ts)
 * stops being one: the account may review again. Every session signed in before it ends, this one included (the
 * cookies are stateless: lib/auth.ts), so whoever else held the temporary password is signed out too. Audited as
 * user.password with self, naming who had set the password it replaces when that was someone else.
 */
export async function changeOwnPassword({ actor, ...input }: ChangeOwnPasswordOptions) {
  // The person's own credential, proved by the current password in a signed-in session: not by an API token or a
  // client certificate, which act for the user without being them.
  if (actor.kind !== "user" || actor.via !== "session") throw new AppError("FORBIDDEN", "your password is changed from a signed-in session");
  const r = changeOwnPasswordInput.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AppError("INVALID_INPUT", `${i.path.join(".") || "body"}: ${i.message}`, String(i.path[0] ?? "body"));
  }
  const { currentPassword, newPassword } = r.data;
  if (currentPassword === newPassword) throw new AppError("INVALID_INPUT", "newPassword: choose a password other than the current one", "newPassword");
  // The one other place that reads the password hash (authenticatePassword is the first; lib/db.ts SECRET_COLUMNS).
  const user = await db.user.findUnique({ where: { id: actor.id }, omit: { passwordHash: false } });
  if (!user || user.disabled) throw new AppError("NOT_FOUND", "no such user");
  // Guesses at the current password from a session (a borrowed one, say) spend the account's sign-in attempts.
  const throttle = await consumeSigninAttempt({ email: user.email, source: `password-change ${user.id}` });
  if (throttle.blocked) throw new AppError("RATE_LIMITED", throttle.reason);
  if (!(await verifyPassword(currentPassword, user.passwordHash)))
    throw new AppError("INVALID_INPUT", "currentPassword: not your current password", "currentPassword");
  await clearSigninAttempts({ email: user.email, source: `password-change ${user.id}` });
  const passwordHash = await hashPassword(newPassword);
  let revokedTokens = 0;
  await db.$transaction(async (tx) => {
    const replaced = await passwordSetByOther(tx, user.id);
    // The password lineage is kept (password-standing.ts): whoever set the temporary password knows it, so may be the
    // one choosing this one; for four eyes the account still counts as them until the operator resets it.
    const countsAs = await lineageEmails(tx, user.passwordLineageIds);
    // API tokens made while the password was temporary may have been made by whoever set it (any scope but review and
    // admin: request, evidence, admission tokens act as the owner): they end with it. The reset set sessionsValidAfter.
    const since = replaced ? user.sessionsValidAfter : null;
    revokedTokens = since
      ? (await tx.apiToken.updateMany({ where: { userId: user.id, revokedAt: null, createdAt: { gte: since } }, data: { revokedAt: new Date() } })).count
      : 0;
    await tx.user.update({ where: { id: user.id }, data: { passwordHash, passwordSetById: null, sessionsValidAfter: new Date() }, select: { id: true } });
    await appendAuditEvent(tx, {
      actor,
      action: "user.password",
      target: user.email,
      detail: { self: true, ...(replaced ? { replaced } : {}), ...(countsAs.length ? { countsAs } : {}), ...(revokedTokens ? { revokedTokens } : {}) },
    });
  });
  if (revokedTokens) forgetCachedTokens();
  return { email: user.email, signedOut: true, revokedTokens };
}

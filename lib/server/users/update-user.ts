import "server-only";
import { z } from "zod";
import { db } from "../../db";
import { AppError } from "../../errors";
import { hashPassword } from "../../password";
import { requireRole, ROLES, type Actor, type Role } from "../actor";
import { forgetCachedTokens } from "../auth/token-cache";
import { appendAuditEvent } from "../audit/append-audit-event";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { lineageEmails, passwordLineageAfter, passwordSetById } from "./password-standing";
import { kickReevaluation, requestReevaluationForApprovers, requestReevaluationForGrantors } from "../reevaluation/enqueue-reevaluation";

export interface UpdateUserOptions {
  actor: Actor;
  email: string;
  role?: Role;
  /** true ends the user's sessions (re-checked on every request) and revokes their API tokens in the same transaction. */
  disabled?: boolean;
  password?: string;
}

export const updateUserInput = z
  .object({
    role: z.enum(ROLES as [Role, ...Role[]]).optional(),
    disabled: z.boolean().optional(),
    password: z.string().min(8, "password must be at least 8 characters").max(1024).optional(),
  })
  .strict();

/**
 * Changes a user's role, disabled flag or password; each change is one audit event in the same transaction. Users are
 * never deleted (audit events name them); disabling is the way out. The last enabled admin cannot be demoted or
 * disabled, so the installation is never left without one.
 */
export async function updateUser({ actor, email, ...change }: UpdateUserOptions) {
  requireRole(actor, ["admin"], "managing users");
  const r = updateUserInput.safeParse(change);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AppError("INVALID_INPUT", `${i.path.join(".") || "body"}: ${i.message}`, String(i.path[0] ?? "body"));
  }
  const { role, disabled, password } = r.data;
  if (role === undefined && disabled === undefined && password === undefined) {
    throw new AppError("INVALID_INPUT", "name at least one of role, disabled, password", "body");
  }
  const normalized = email.trim().toLowerCase();
  if (actor.kind === "user" && actor.email === normalized && disabled === true) {
    throw new AppError("CONFLICT", "you cannot disable yourself", "disabled");
  }
  const passwordHash = password === undefined ? undefined : await hashPassword(password);
  const done = await db.$transaction(async (tx) => {
    // Serializes admin-count checks across replicas, so two concurrent demotions cannot remove the last two admins.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.userAdmin}::int, 0)`;
    const user = await tx.user.findUnique({ where: { email: normalized }, omit: { passwordHash: true } });
    if (!user) throw new AppError("NOT_FOUND", `no user ${normalized}`, "email");
    const losesAdmin = user.role === "admin" && !user.disabled && ((role !== undefined && role !== "admin") || disabled === true);
    if (losesAdmin) {
      const admins = await tx.user.count({ where: { role: "admin", disabled: false } });
      if (admins <= 1)
        throw new AppError("CONFLICT", `${normalized} is the last enabled admin; make another admin first`, role !== undefined ? "role" : "disabled");
    }
    // Who this account counts as too for four eyes, after this password (password-standing.ts).
    const lineage = passwordHash ? await passwordLineageAfter(tx, actor, user) : user.passwordLineageIds;
    const updated = await tx.user.update({
      where: { id: user.id },
      data: {
        ...(role !== undefined ? { role } : {}),
        ...(disabled !== undefined ? { disabled } : {}),
        // Set by another user (an admin): a temporary password, with which the account may not review until its
        // owner sets their own (password-standing.ts). One's own, or the CLI's: not temporary.
        ...(passwordHash ? { passwordHash, passwordSetById: passwordSetById(actor, user.id), passwordLineageIds: lineage } : {}),
        // A new password or a disable ends every session signed in before it (the cookies are stateless: lib/auth.ts).
        ...(passwordHash || disabled === true ? { sessionsValidAfter: new Date() } : {}),
      },
      omit: { passwordHash: true },
    });
    if (role !== undefined && role !== user.role) {
      await appendAuditEvent(tx, { actor, action: "user.role", target: normalized, detail: { from: user.role, to: role } });
    }
    let revokedTokens = 0;
    if (disabled === true && !user.disabled) {
      revokedTokens = (await tx.apiToken.updateMany({ where: { userId: user.id, revokedAt: null }, data: { revokedAt: new Date() } })).count;
      // Client certificates too: enabling the account again must not bring back a credential the disable was meant to
      // end, as it does not bring back tokens (found by review: a certificate authenticated again after an enable).
      const revokedCertificates = (await tx.clientCertificate.updateMany({ where: { userId: user.id, revokedAt: null }, data: { revokedAt: new Date() } }))
        .count;
      await appendAuditEvent(tx, { actor, action: "user.disable", target: normalized, detail: { revokedTokens, revokedCertificates } });
    } else if (disabled === false && user.disabled) {
      await appendAuditEvent(tx, { actor, action: "user.enable", target: normalized });
    }
    if (passwordHash) {
      const temporary = passwordSetById(actor, user.id) !== null;
      const countsAs = await lineageEmails(tx, lineage);
      await appendAuditEvent(tx, {
        actor,
        action: "user.password",
        target: normalized,
        detail: { temporary, self: !temporary && actor.kind === "user", ...(countsAs.length ? { countsAs } : {}) },
      });
    }
    // The waivers this user granted count only while they may grant them: a change of standing re-judges the approvals
    // those waivers cover, in this transaction (the request exists exactly when the change committed).
    const standingChanged = (role !== undefined && role !== user.role) || (disabled !== undefined && disabled !== user.disabled);
    if (standingChanged) {
      await requestReevaluationForGrantors(tx, { userIds: [user.id] });
      // Likewise an approval counts towards its stage's N only while its approver may approve (approval-quorum.ts).
      await requestReevaluationForApprovers(tx, { userIds: [user.id] });
    }
    return { user: updated, revokedTokens, standingChanged };
  });
  if (done.standingChanged) await kickReevaluation();
  // This replica forgets cached token lookups at once; other replicas within a second (auth/token-cache.ts).
  forgetCachedTokens();
  return { user: done.user, revokedTokens: done.revokedTokens };
}

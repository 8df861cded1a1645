import "server-only";
import { db, Prisma, type Tx } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";

/**
 * A temporary password: one set by another user (an admin), recorded in users.password_set_by_id. Someone else chose
 * it and knows it, so whoever signs in with it may be that someone: a review, a waiver, a break glass or a
 * review/admin-scope token made with it would be that person's judgement under the owner's name (found by review: an
 * admin set a reviewer's password, signed in as them and was both approvers of a 2-of-2, with no break-glass marker).
 * The account may still sign in; its owner ends the state by setting their own password (changeOwnPassword).
 * NULL or the owner's own id is a password they chose; the CLI (the operator, who holds the database and the signing
 * keys, and may make any token) records NULL, as for tokens (create-token.ts).
 */
export function passwordSetById(actor: Actor, ownerId: string): string | null {
  return actor.kind === "user" && actor.id !== ownerId ? actor.id : null;
}

/** Where the owner sets their own password (shown in every refusal). */
export const SET_OWN_PASSWORD = "set your own password first (API tokens page, or POST /api/v1/account/password)";

/** The refusal for an account whose password another user set (`setBy`: their email), or null. */
export function temporaryPasswordRefusal(setBy: string | null, what: string): string | null {
  return setBy ? `your password was set by ${setBy}, so it is a temporary password someone else knows; ${SET_OWN_PASSWORD} before ${what}` : null;
}

/**
 * The email of the user who set this user's password when that was someone else, as a SQL expression (null when they
 * set it themselves, or the operator did). `userId` is a SQL expression naming the user's id.
 */
export function passwordSetBySql(userId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT su.email FROM users me JOIN users su ON su.id = me.password_set_by_id
                      WHERE me.id = ${userId} AND me.password_set_by_id <> me.id)`;
}

/** The email of whoever else set this user's password, or null (see passwordSetBySql). */
export async function passwordSetByOther(client: Tx | typeof db, userId: string): Promise<string | null> {
  const [row] = await client.$queryRaw<{ set_by: string | null }[]>`SELECT ${passwordSetBySql(Prisma.sql`${userId}::uuid`)} AS set_by`;
  return row?.set_by ?? null;
}

/** For the signed-in user's own page: who else set their password, or null (the account page's notice). */
export async function ownTemporaryPassword(actor: Actor): Promise<string | null> {
  return actor.kind === "user" ? passwordSetByOther(db, actor.id) : null;
}

/** Refuses (FORBIDDEN) a user actor whose password another user set; `what` is what they were doing ("granting waivers"). */
export async function assertOwnPassword(client: Tx | typeof db, actor: Actor, what: string): Promise<void> {
  if (actor.kind !== "user") return;
  const refusal = temporaryPasswordRefusal(await passwordSetByOther(client, actor.id), what);
  if (refusal) throw new AppError("FORBIDDEN", refusal);
}

/**
 * The password lineage an account has after `actor` sets its password (users.password_lineage_ids): the other users
 * its password credential descends from, who for four eyes it counts as (promotions/password-lineage.ts). Knowing the
 * current password proves nothing while whoever set it knows it too, and without e-mail nothing else proves who the
 * owner is; so the lineage is not told apart from the owner, it is only kept apart from them at review.
 * - Another user sets it: that user, and those their own password descends from (whoever signed in as them).
 * - The owner sets it (updateUser on themselves; changeOwnPassword never touches it): kept, the new password was chosen
 *   by whoever knew the old one.
 * - The CLI or the system (the operator, who holds the database and the keys anyway): none.
 */
export async function passwordLineageAfter(tx: Tx, actor: Actor, owner: { id: string; passwordLineageIds: string[] }): Promise<string[]> {
  if (actor.kind !== "user") return [];
  if (actor.id === owner.id) return owner.passwordLineageIds;
  const mine = await tx.user.findUnique({ where: { id: actor.id }, select: { passwordLineageIds: true } });
  return [...new Set([actor.id, ...(mine?.passwordLineageIds ?? [])])].filter((id) => id !== owner.id);
}

/** The emails of these users (a password lineage, for the audit trail), in the order given. */
export async function lineageEmails(tx: Tx, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await tx.user.findMany({ where: { id: { in: [...ids] } }, select: { id: true, email: true } });
  return ids.map((id) => rows.find((r) => r.id === id)?.email ?? id);
}

import "server-only";
import { db } from "../../db";
import { type Actor } from "../actor";

/** Admins (and the CLI) see every token; other users see their own. The hash is never read. */
export async function listTokens({ actor, email }: { actor: Actor; email?: string }) {
  const own = actor.kind === "user" && actor.role !== "admin";
  const where = own ? { userId: actor.id } : email ? { user: { email: email.trim().toLowerCase() } } : {};
  const rows = await db.apiToken.findMany({ where, include: { user: { select: { email: true } } }, orderBy: { createdAt: "asc" }, omit: { tokenHash: true } });
  return rows.map((r) => ({
    id: r.id,
    email: r.user.email,
    name: r.name,
    prefix: r.prefix,
    scopes: r.scopes,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    lastUsedAt: r.lastUsedAt,
  }));
}

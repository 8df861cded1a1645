import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";

export async function listTokens({ actor }: { actor: Actor }) {
  requireRole(actor, ["admin"], "listing API tokens");
  const rows = await db.apiToken.findMany({ include: { user: { select: { email: true } } }, orderBy: { createdAt: "asc" }, omit: { tokenHash: true } });
  return rows.map((r) => ({
    id: r.id,
    email: r.user.email,
    name: r.name,
    prefix: r.prefix,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    lastUsedAt: r.lastUsedAt,
  }));
}

import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";

export async function listUsers({ actor }: { actor: Actor }) {
  requireRole(actor, ["admin"], "listing users");
  const rows = await db.user.findMany({
    orderBy: { email: "asc" },
    omit: { passwordHash: true },
    include: {
      memberships: { include: { group: { select: { name: true } } } },
      _count: { select: { tokens: { where: { revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] } } } },
    },
  });
  return rows.map(({ memberships, _count, oidcSubject, ...u }) => ({
    ...u,
    signIn: oidcSubject ? ("oidc" as const) : ("password" as const),
    groups: memberships.map((m) => m.group.name).sort(),
    activeTokens: _count.tokens,
  }));
}

import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { grantorStanding } from "../promotions/gather-gate-facts";

/** Every waiver, newest first, with whether it still counts, which approvals relied on it, and whether the viewer may revoke it. */
export async function listWaivers({ actor, stage }: { actor: Actor; stage?: string }) {
  const now = new Date();
  const myGroups =
    actor.kind === "user"
      ? new Set((await db.groupMember.findMany({ where: { userId: actor.id }, select: { groupId: true } })).map((g) => g.groupId))
      : new Set<string>();
  const rows = await db.waiver.findMany({
    where: stage ? { stage: { name: stage } } : {},
    orderBy: { createdAt: "desc" },
    take: 500,
    include: {
      stage: { select: { name: true, waiverGroupId: true, waiverGroup: { select: { name: true } } } },
      grantedBy: { select: { name: true, disabled: true } },
      repository: { select: { name: true, registry: { select: { name: true } } } },
    },
  });
  const usedBy = rows.length
    ? await db.review.findMany({
        where: { waiverIds: { hasSome: rows.map((r) => r.id) } },
        select: { requestId: true, waiverIds: true, reviewer: { select: { name: true } } },
      })
    : [];
  // The grantors' waiver-group memberships now: a waiver counts only while its grantor could still grant it.
  const grantorIds = [...new Set(rows.map((r) => r.grantedById))];
  const memberships = grantorIds.length
    ? new Set(
        (await db.groupMember.findMany({ where: { userId: { in: grantorIds } }, select: { groupId: true, userId: true } })).map(
          (m) => `${m.groupId} ${m.userId}`,
        ),
      )
    : new Set<string>();
  return rows.map((w) => ({
    id: w.id,
    stage: w.stage.name,
    gate: w.gate,
    vulnIds: w.vulnIds,
    registry: w.repository.registry.name,
    repository: w.repository.name,
    digest: w.digest,
    reason: w.reason,
    grantedBy: w.grantedBy.name,
    createdAt: w.createdAt.toISOString(),
    expiresAt: w.expiresAt.toISOString(),
    revokedAt: w.revokedAt?.toISOString() ?? null,
    state: w.revokedAt ? "revoked" : w.expiresAt <= now ? "expired" : "active",
    // "grantor disabled (…)": an active waiver that gates do not count, as gather-gate-facts.ts judges it; null while it counts.
    notCounted:
      w.revokedAt || w.expiresAt <= now
        ? null
        : grantorStanding({
            name: w.grantedBy.name,
            disabled: w.grantedBy.disabled,
            waiverGroup: w.stage.waiverGroup?.name ?? null,
            inGroup: !!w.stage.waiverGroupId && memberships.has(`${w.stage.waiverGroupId} ${w.grantedById}`),
          }),
    // The same rule revokeWaiver enforces: the grantor, the stage's waiver group, or an admin.
    canRevoke:
      !w.revokedAt &&
      w.expiresAt > now &&
      actor.kind === "user" &&
      (actor.role === "admin" || w.grantedById === actor.id || (!!w.stage.waiverGroupId && myGroups.has(w.stage.waiverGroupId))),
    usedBy: usedBy.filter((u) => u.waiverIds.includes(w.id)).map((u) => ({ requestId: u.requestId, reviewer: u.reviewer.name })),
  }));
}

import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/** Every waiver, newest first, with whether it still counts and which approvals relied on it. */
export async function listWaivers({ stage, includeExpired = true }: { actor: Actor; stage?: string; includeExpired?: boolean }) {
  const now = new Date();
  const rows = await db.waiver.findMany({
    where: { ...(stage ? { stage: { name: stage } } : {}), ...(includeExpired ? {} : { revokedAt: null, expiresAt: { gt: now } }) },
    orderBy: { createdAt: "desc" },
    take: 500,
    include: { stage: { select: { name: true } }, grantedBy: { select: { name: true } }, repository: { select: { name: true, registry: { select: { name: true } } } } },
  });
  const usedBy = rows.length
    ? await db.review.findMany({ where: { waiverIds: { hasSome: rows.map((r) => r.id) } }, select: { requestId: true, waiverIds: true, reviewer: { select: { name: true } } } })
    : [];
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
    usedBy: usedBy.filter((u) => u.waiverIds.includes(w.id)).map((u) => ({ requestId: u.requestId, reviewer: u.reviewer.name })),
  }));
}

import "server-only";
import { db, type Prisma } from "../../db";
import type { Actor } from "../actor";
import { approvalEndedLabel, approvalsSummary, requestStateLabel } from "./get-request";
import { readReviewStandings } from "./read-review-standings";
import { standingApprovals } from "./reviewer-eligibility";

export type RequestView = "inbox" | "mine" | "all";

export interface ListRequestsOptions {
  actor: Actor;
  /** inbox: open requests awaiting my review; mine: requests I made; all: every request (newest first). */
  view: RequestView;
  status?: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  limit?: number;
}

/**
 * Requests for a list. The inbox holds open requests of stages whose reviewer groups include me (or, for a stage
 * without groups, any reviewer), that I did not request, did not build, and have not reviewed yet.
 */
export async function listRequests({ actor, view, status, limit = 200 }: ListRequestsOptions) {
  const me = actor.kind === "user" ? actor.id : null;
  let where: Prisma.PromotionRequestWhereInput = status ? { status } : {};
  if (view === "mine") {
    if (!me) return [];
    where = { ...where, requesterId: me };
  }
  if (view === "inbox") {
    // The inbox holds open requests only.
    if (status && status !== "open") return [];
    if (!me || actor.kind !== "user" || (actor.role !== "reviewer" && actor.role !== "admin")) return [];
    const groupIds = (await db.groupMember.findMany({ where: { userId: me }, select: { groupId: true } })).map((g) => g.groupId);
    where = {
      status: "open",
      NOT: { requesterId: me },
      reviews: { none: { reviewerId: me } },
      image: { evidence: { none: { kind: "provenance", uploaderId: me } } },
      stage: { OR: [{ reviewerGroups: { none: {} } }, { reviewerGroups: { some: { groupId: { in: groupIds } } } }] },
    };
  }
  const rows = await db.promotionRequest.findMany({
    where,
    orderBy: { createdAt: view === "inbox" ? "asc" : "desc" },
    take: Math.min(Math.max(limit, 1), 500),
    include: {
      stage: { select: { name: true, requiredApprovals: true, reviewerGroups: { select: { group: { select: { id: true, name: true } } } } } },
      image: { select: { digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } } },
      requester: { select: { name: true, email: true } },
      approval: { select: { status: true } },
    },
  });
  // Approvals counted as the review counts them: an approval by an account since disabled, demoted, out of the
  // stage's reviewer groups or revealed as the build's author no longer counts towards N.
  const reviews = await readReviewStandings(
    db,
    rows.map((r) => r.id),
  );
  const ended = await endedApprovals(rows.map((r) => r.id));
  return rows.map((r) => {
    const standing = standingApprovals({ ...r, reviews: reviews.get(r.id) ?? [] });
    const approvers = standing.counted.map((v) => v.reviewer.name);
    return {
      id: r.id,
      status: r.status,
      state: approvalEndedLabel(ended.get(r.id)) ?? requestStateLabel(r.status, r.approval?.status, approvers.length, r.stage.requiredApprovals),
      stage: r.stage.name,
      registry: r.image.repository.registry.name,
      repository: r.image.repository.name,
      digest: r.image.digest,
      note: r.note,
      requester: r.requester?.name ?? null,
      approvals: approvalsSummary(
        r.stage.requiredApprovals,
        r.stage.reviewerGroups.map((g) => g.group.name),
        approvers,
        standing.notCounted,
      ),
      breakGlass: r.breakGlass,
      createdAt: r.createdAt.toISOString(),
    };
  });
}

/**
 * The approvals of these requests that may have stopped counting: revoked, or under a stage TTL (with their expiry by
 * approval_expiry(), the one definition verify uses). One statement; a list shows "expired" or "revoked", not "signed".
 */
async function endedApprovals(requestIds: string[]): Promise<Map<string, { revokedAt: Date | null; expiresAt: Date | null }>> {
  if (!requestIds.length) return new Map();
  const rows = await db.$queryRaw<{ request_id: string; revoked_at: Date | null; expires_at: Date | null }[]>`
    SELECT a.request_id, a.revoked_at, approval_expiry(a.ages_from, s.approval_ttl_days) AS expires_at
    FROM approvals a JOIN stages s ON s.id = a.stage_id
    WHERE a.request_id = ANY(${requestIds}::uuid[]) AND (a.revoked_at IS NOT NULL OR s.approval_ttl_days IS NOT NULL)`;
  return new Map(rows.map((r) => [r.request_id, { revokedAt: r.revoked_at, expiresAt: r.expires_at }]));
}

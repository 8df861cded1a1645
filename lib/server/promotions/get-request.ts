import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { evaluateGates, type GateResult } from "../../policy/gates";
import { stageGates } from "../stages/stage-gates";
import type { Actor } from "../actor";
import { gatherGateFacts } from "./gather-gate-facts";
import { reviewerEligibility } from "./reviewer-eligibility";
import { gateResultsColumn, readJson } from "../json-columns";

const include = {
  stage: { include: { reviewerGroups: { include: { group: { select: { id: true, name: true } } } }, waiverGroup: { select: { id: true, name: true } } } },
  image: { select: { id: true, digest: true, repositoryId: true, repository: { select: { name: true, registry: { select: { name: true } } } } } },
  requester: { select: { id: true, name: true, email: true } },
  reviews: { include: { reviewer: { select: { id: true, name: true, email: true } } }, orderBy: { createdAt: "asc" as const } },
  approval: {
    select: {
      id: true,
      status: true,
      layerDigest: true,
      signedAt: true,
      lastError: true,
      attempts: true,
      trustedAt: true,
      trustedBy: true,
      timestampBy: true,
      revokedAt: true,
      revokedBy: true,
      revocationReason: true,
      revocationSource: true,
      revocationState: true,
      revocationError: true,
      signingKey: { select: { name: true, fingerprint: true } },
    },
  },
} as const;

/** Plain-words progress of the approvals, e.g. "needs 2 approvals from group security, has 1 (alice)". */
export function approvalsSummary(required: number, groups: string[], approvers: string[]): string {
  const from = groups.length ? ` from group ${groups.join(" or ")}` : " from reviewers";
  return `needs ${required} approval${required === 1 ? "" : "s"}${from}, has ${approvers.length}${approvers.length ? ` (${approvers.join(", ")})` : ""}`;
}

export function requestStateLabel(status: string, approvalStatus: string | null | undefined, approvals: number, required: number): string {
  switch (status) {
    case "open":
      return `awaiting review: ${approvals} of ${required} approval${required === 1 ? "" : "s"}`;
    case "approved":
      return approvalStatus === "signed" ? "signed" : "approved, signature pending";
    case "signed":
      return "signed: the stage signature is in the registry";
    case "rejected":
      return "rejected";
    default:
      return status;
  }
}

/**
 * One promotion request as one record: the request, its reviews, the gates (judged now while it is open, or as
 * recorded at the decision), the waivers it relied on, the resulting signature, and what the viewer may do.
 */
type RequestRow = NonNullable<Awaited<ReturnType<typeof loadRequest>>>;

function loadRequest(requestId: string) {
  return db.promotionRequest.findUnique({ where: { id: requestId }, include });
}

/** The approval's signature: its state in the registry, its trusted time and its revocation. */
function signatureView(a: NonNullable<RequestRow["approval"]>) {
  return {
    status: a.status,
    layerDigest: a.layerDigest,
    key: a.signingKey,
    signedAt: a.signedAt?.toISOString() ?? null,
    lastError: a.lastError,
    attempts: a.attempts,
    approvalId: a.id,
    // The TSA's time when the signature carries a token (RFC 3161), else Imprimatur's record (approvals.trusted_at).
    trustedTime: { at: a.trustedAt!.toISOString(), by: a.trustedBy === "tsa" ? (a.timestampBy ?? "TSA") : "Imprimatur's record" },
    revocation: a.revokedAt
      ? {
          revokedAt: a.revokedAt.toISOString(),
          revokedBy: a.revokedBy,
          reason: a.revocationReason,
          source: a.revocationSource,
          state: a.revocationState,
          error: a.revocationError,
        }
      : null,
  };
}

export async function getRequest({ actor, requestId }: { actor: Actor; requestId: string }) {
  if (!isUuid(requestId)) throw new AppError("NOT_FOUND", "no such promotion request");
  const r = await loadRequest(requestId);
  if (!r) throw new AppError("NOT_FOUND", "no such promotion request");
  const groups = r.stage.reviewerGroups.map((g) => g.group.name);
  const approvers = r.reviews.filter((v) => v.decision === "approve").map((v) => v.reviewer.name);
  let gates: GateResult[];
  let gatesJudgedAt: string;
  if (r.status === "open") {
    gates = evaluateGates(stageGates(r.stage), await gatherGateFacts(db, { imageId: r.imageId, stageId: r.stageId, requesterId: r.requesterId }));
    gatesJudgedAt = new Date().toISOString();
  } else {
    // The record of what was judged at the decision: an unreadable one is an error, not "no gates".
    gates = readJson(gateResultsColumn.nullable(), r.gateResults, { table: "promotion_requests", column: "gate_results", id: r.id }) ?? [];
    gatesJudgedAt = (r.decidedAt ?? r.updatedAt).toISOString();
  }
  const waiverIds = [...new Set([...r.reviews.flatMap((v) => v.waiverIds), ...gates.flatMap((g) => g.waiverIds)])];
  // Independent reads on the pool (not a transaction), so they run side by side.
  const waiverGroupId = r.stage.waiverGroupId;
  const [waivers, elig, waiverMember] = await Promise.all([
    waiverIds.length ? db.waiver.findMany({ where: { id: { in: waiverIds } }, include: { grantedBy: { select: { name: true } } } }) : [],
    actor.kind === "user" ? reviewerEligibility(db, { actor, request: r }) : null,
    actor.kind === "user" && r.requesterId !== actor.id && waiverGroupId
      ? db.groupMember.findFirst({ where: { groupId: waiverGroupId, userId: actor.id } })
      : null,
  ]);
  const reviewed = actor.kind === "user" ? r.reviews.find((v) => v.reviewerId === actor.id) : undefined;
  const canWaive = !!waiverMember;
  return {
    id: r.id,
    status: r.status,
    state: requestStateLabel(r.status, r.approval?.status, approvers.length, r.stage.requiredApprovals),
    note: r.note,
    createdAt: r.createdAt.toISOString(),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    breakGlass: r.breakGlass,
    requester: r.requester ? { name: r.requester.name, email: r.requester.email } : null,
    image: { registry: r.image.repository.registry.name, repository: r.image.repository.name, digest: r.image.digest },
    stage: { name: r.stage.name, requiredApprovals: r.stage.requiredApprovals, reviewerGroups: groups, waiverGroup: r.stage.waiverGroup?.name ?? null },
    approvals: { count: approvers.length, required: r.stage.requiredApprovals, summary: approvalsSummary(r.stage.requiredApprovals, groups, approvers) },
    reviews: r.reviews.map((v) => ({
      id: v.id,
      reviewer: v.reviewer.name,
      reviewerEmail: v.reviewer.email,
      decision: v.decision,
      comment: v.comment,
      breakGlass: v.breakGlass,
      waiverIds: v.waiverIds,
      createdAt: v.createdAt.toISOString(),
    })),
    gates,
    gatesJudgedAt,
    waivers: waivers.map((w) => ({
      id: w.id,
      gate: w.gate,
      vulnIds: w.vulnIds,
      reason: w.reason,
      expiresAt: w.expiresAt.toISOString(),
      grantedBy: w.grantedBy.name,
      digest: w.digest,
      revoked: !!w.revokedAt,
    })),
    signature: r.approval ? signatureView(r.approval) : null,
    viewer: {
      reviewed: reviewed ? reviewed.decision : null,
      canReview: !!elig && elig.eligible && !reviewed && r.status === "open",
      reasons: elig?.reasons ?? [],
      canBreakGlass: !!elig?.canBreakGlass && !reviewed && r.status === "open",
      canWaive,
      canWithdraw: actor.kind === "user" && actor.id === r.requesterId && r.status === "open",
      // Shown to reviewers and admins; revokeApproval checks the stage's reviewer groups when it is used.
      canRevoke: actor.kind === "user" && (actor.role === "reviewer" || actor.role === "admin") && !!r.approval && !r.approval.revokedAt,
    },
  };
}

export type RequestRecord = Awaited<ReturnType<typeof getRequest>>;

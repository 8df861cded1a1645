import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { evaluateGates, type GateResult } from "../../policy/gates";
import { stageGates } from "../stages/stage-gates";
import type { Actor } from "../actor";
import { gatherGateFacts } from "./gather-gate-facts";
import { reviewerEligibility, standingApprovals, type ReviewerStanding } from "./reviewer-eligibility";
import { REVIEWER_STANDING_FIELDS } from "./load-request-for-review";
import { passwordSetBySql } from "../users/password-standing";
import { userLineageSql, type LineagePerson } from "./password-lineage";
import { gateResultsColumn, readJson } from "../json-columns";

/** Plain-words progress of the approvals, e.g. "needs 2 approvals from group security, has 1 (alice)". */
export function approvalsSummary(required: number, groups: string[], approvers: string[], notCounted: string[] = []): string {
  const from = groups.length ? ` from group ${groups.join(" or ")}` : " from reviewers";
  const has = `has ${approvers.length}${approvers.length ? ` (${approvers.join(", ")})` : ""}`;
  return `needs ${required} approval${required === 1 ? "" : "s"}${from}, ${has}${notCounted.length ? `; no longer counted: ${notCounted.join("; ")}` : ""}`;
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
 * What a decided request's label says first when its approval no longer passes the stage: revoked, or expired under the
 * stage's TTL (its signature may still be in the registry, but verify and ImageReview deny it). Null while it stands.
 */
export function approvalEndedLabel(a: { revokedAt: Date | null; expiresAt: Date | null } | null | undefined): string | null {
  if (!a) return null;
  if (a.revokedAt) return `signed, then revoked ${a.revokedAt.toISOString()}: verify and ImageReview deny this stage`;
  if (a.expiresAt && a.expiresAt.getTime() <= Date.now())
    return `approval expired ${a.expiresAt.toISOString()}: verify and ImageReview deny this stage; renewing is a new request`;
  return null;
}

/**
 * One promotion request as one record: the request, its reviews, the gates (judged now while it is open, or as
 * recorded at the decision), the waivers it relied on, the resulting signature, and what the viewer may do.
 */
type RequestRow = NonNullable<Awaited<ReturnType<typeof loadRequest>>>;

type LoadedRequest = {
  id: string;
  image_id: string;
  stage_id: string;
  requester_id: string | null;
  note: string;
  status: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  created_at: Date;
  updated_at: Date;
  decided_at: Date | null;
  gate_results: unknown;
  break_glass: boolean;
  stage_name: string;
  required_approvals: number;
  gates: unknown;
  waiver_group_id: string | null;
  waiver_group_name: string | null;
  reviewer_groups: { id: string; name: string }[];
  digest: string;
  repository_id: string;
  repository: string;
  registry: string;
  requester: { id: string; name: string; email: string } | null;
  reviews: {
    id: string;
    reviewerId: string;
    decision: string;
    comment: string;
    breakGlass: boolean;
    waiverIds: string[];
    createdAt: string;
    reviewer: { id: string; name: string } & ReviewerStanding;
  }[];
  a_id: string | null;
  a_status: string | null;
  a_layer_digest: string | null;
  a_signed_at: Date | null;
  a_last_error: string | null;
  a_attempts: number | null;
  a_trusted_at: Date | null;
  a_trusted_by: string | null;
  a_timestamp_by: string | null;
  a_revoked_at: Date | null;
  a_revoked_by: string | null;
  a_revocation_reason: string | null;
  a_revocation_source: string | null;
  a_revocation_state: string | null;
  a_revocation_error: string | null;
  a_expires_at: Date | null;
  a_key_name: string | null;
  a_key_fingerprint: string | null;
  in_reviewer_group: boolean;
  uploaded_provenance: boolean;
  waiver_member: boolean;
  password_set_by: string | null;
  password_lineage: LineagePerson[];
  requester_lineage: LineagePerson[];
};

/**
 * The request with its stage, image, requester, reviews and approval, and the viewer's standing (reviewer group,
 * provenance uploads, waiver group), in one statement.
 */
async function loadRequest(requestId: string, viewerId: string | null) {
  const [r] = await db.$queryRaw<LoadedRequest[]>`
    SELECT pr.id, pr.image_id, pr.stage_id, pr.requester_id, pr.note, pr.status::text AS status, pr.created_at, pr.updated_at,
           pr.decided_at, pr.gate_results, pr.break_glass,
           s.name AS stage_name, s.required_approvals, s.gates, s.waiver_group_id, wg.name AS waiver_group_name,
           COALESCE((SELECT json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY g.name)
                       FROM stage_reviewer_groups sg JOIN groups g ON g.id = sg.group_id WHERE sg.stage_id = s.id), '[]'::json) AS reviewer_groups,
           i.digest, i.repository_id, rp.name AS repository, rg.name AS registry,
           CASE WHEN u.id IS NULL THEN NULL ELSE json_build_object('id', u.id, 'name', u.name, 'email', u.email) END AS requester,
           COALESCE((SELECT json_agg(json_build_object('id', v.id, 'reviewerId', v.reviewer_id, 'decision', v.decision, 'comment', v.comment,
                                                       'breakGlass', v.break_glass, 'waiverIds', v.waiver_ids, 'createdAt', v.created_at,
                                                       'reviewer', json_build_object('id', ru.id, 'name', ru.name, ${Prisma.raw(REVIEWER_STANDING_FIELDS)}))
                                     ORDER BY v.created_at, v.id)
                       FROM reviews v JOIN users ru ON ru.id = v.reviewer_id WHERE v.request_id = pr.id), '[]'::json) AS reviews,
           a.id AS a_id, a.status::text AS a_status, a.layer_digest AS a_layer_digest, a.signed_at AS a_signed_at, a.last_error AS a_last_error,
           a.attempts AS a_attempts, a.trusted_at AS a_trusted_at, a.trusted_by AS a_trusted_by, a.timestamp_by AS a_timestamp_by,
           a.revoked_at AS a_revoked_at, a.revoked_by AS a_revoked_by, a.revocation_reason AS a_revocation_reason,
           a.revocation_source AS a_revocation_source, a.revocation_state AS a_revocation_state, a.revocation_error AS a_revocation_error,
           approval_expiry(a.ages_from, s.approval_ttl_days) AS a_expires_at,
           k.name AS a_key_name, k.fingerprint AS a_key_fingerprint,
           EXISTS (SELECT 1 FROM stage_reviewer_groups sg JOIN group_members gm ON gm.group_id = sg.group_id
                    WHERE sg.stage_id = s.id AND gm.user_id = ${viewerId}::uuid) AS in_reviewer_group,
           EXISTS (SELECT 1 FROM evidence_documents d
                    WHERE d.image_id = pr.image_id AND d.kind = 'provenance' AND d.uploader_id = ${viewerId}::uuid) AS uploaded_provenance,
           EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = s.waiver_group_id AND gm.user_id = ${viewerId}::uuid) AS waiver_member,
           ${passwordSetBySql(Prisma.sql`${viewerId}::uuid`)} AS password_set_by,
           ${userLineageSql(Prisma.sql`${viewerId}::uuid`)} AS password_lineage,
           ${userLineageSql(Prisma.sql`pr.requester_id`)} AS requester_lineage
      FROM promotion_requests pr
      JOIN stages s ON s.id = pr.stage_id
      LEFT JOIN groups wg ON wg.id = s.waiver_group_id
      JOIN images i ON i.id = pr.image_id
      JOIN repositories rp ON rp.id = i.repository_id
      JOIN registries rg ON rg.id = rp.registry_id
      LEFT JOIN users u ON u.id = pr.requester_id
      LEFT JOIN approvals a ON a.request_id = pr.id
      LEFT JOIN signing_keys k ON k.id = a.signing_key_id
     WHERE pr.id = ${requestId}::uuid`;
  return r ? requestRow(r) : null;
}

/** The statement's row in the record's shapes (reviews' times as Dates, the approval as one object or null). */
function requestRow(r: LoadedRequest) {
  return {
    id: r.id,
    imageId: r.image_id,
    stageId: r.stage_id,
    requesterId: r.requester_id,
    requesterLineage: r.requester_lineage,
    note: r.note,
    status: r.status,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    decidedAt: r.decided_at,
    gateResults: r.gate_results,
    breakGlass: r.break_glass,
    stage: {
      id: r.stage_id,
      name: r.stage_name,
      requiredApprovals: r.required_approvals,
      gates: r.gates,
      waiverGroupId: r.waiver_group_id,
      waiverGroup: r.waiver_group_name === null ? null : { name: r.waiver_group_name },
      reviewerGroups: r.reviewer_groups.map((group) => ({ group })),
    },
    image: { id: r.image_id, digest: r.digest, repositoryId: r.repository_id, repository: { name: r.repository, registry: { name: r.registry } } },
    requester: r.requester,
    reviews: r.reviews.map((v) => ({ ...v, createdAt: new Date(v.createdAt) })),
    approval: r.a_id === null ? null : approvalRow(r),
    viewer: {
      inReviewerGroup: r.in_reviewer_group,
      uploadedProvenance: r.uploaded_provenance,
      waiverMember: r.waiver_member,
      passwordSetBy: r.password_set_by,
      passwordLineage: r.password_lineage,
    },
  };
}

function approvalRow(r: LoadedRequest) {
  return {
    id: r.a_id!,
    status: r.a_status!,
    layerDigest: r.a_layer_digest!,
    signedAt: r.a_signed_at,
    lastError: r.a_last_error,
    attempts: r.a_attempts ?? 0,
    trustedAt: r.a_trusted_at,
    trustedBy: r.a_trusted_by,
    timestampBy: r.a_timestamp_by,
    revokedAt: r.a_revoked_at,
    revokedBy: r.a_revoked_by,
    revocationReason: r.a_revocation_reason,
    revocationSource: r.a_revocation_source,
    revocationState: r.a_revocation_state,
    revocationError: r.a_revocation_error,
    expiresAt: r.a_expires_at,
    signingKey: { name: r.a_key_name!, fingerprint: r.a_key_fingerprint! },
  };
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
    // When the approval stops counting under the stage's TTL (approval_expiry(), the definition verify and ImageReview
    // use), and whether it has: an expired approval's signature stays in the registry, but it passes no stage.
    expiry: a.expiresAt ? { at: a.expiresAt.toISOString(), expired: a.expiresAt.getTime() <= Date.now() } : null,
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

/**
 * An open request's gates, as the next approval will judge them: four eyes discounts the waivers and unsigned evidence
 * of the requester and of the approvals already counted. A viewer who may approve (`viewerId`) is also told which gates
 * their own approval would fail on, their own waivers and unsigned evidence not counting for it, before they try.
 */
async function judgeOpenGates(
  r: { imageId: string; stageId: string; requesterId: string | null; stage: Parameters<typeof stageGates>[0] },
  approverIds: string[],
  viewerId: string | null,
): Promise<{ gates: GateResult[]; fourEyes: string[] }> {
  const judge = async (ids: string[]) =>
    evaluateGates(stageGates(r.stage), await gatherGateFacts(db, { imageId: r.imageId, stageId: r.stageId, requesterId: r.requesterId, approverIds: ids }));
  const gates = await judge(approverIds);
  if (!viewerId || approverIds.includes(viewerId)) return { gates, fourEyes: [] };
  const mine = await judge([...approverIds, viewerId]);
  const fourEyes = mine.filter((g) => !g.passed && gates.find((x) => x.gate === g.gate)?.passed).map((g) => `${g.label}: ${g.detail}`);
  return { gates, fourEyes };
}

export async function getRequest({ actor, requestId }: { actor: Actor; requestId: string }) {
  if (!isUuid(requestId)) throw new AppError("NOT_FOUND", "no such promotion request");
  const viewerId = actor.kind === "user" ? actor.id : null;
  const r = await loadRequest(requestId, viewerId);
  if (!r) throw new AppError("NOT_FOUND", "no such promotion request");
  const groups = r.stage.reviewerGroups.map((g) => g.group.name);
  // While the request is open, an approval counts only while its reviewer may still approve (as the next review will
  // judge it); a decided request shows the approvals as they were.
  const standing = standingApprovals(r);
  const approvers = standing.counted.map((v) => v.reviewer.name);
  // The viewer's standing was read with the request (same statement).
  const elig = actor.kind === "user" ? await reviewerEligibility(db, { actor, request: r, known: r.viewer }) : null;
  let gates: GateResult[];
  let gatesJudgedAt: string;
  let fourEyes: string[] = [];
  if (r.status === "open") {
    ({ gates, fourEyes } = await judgeOpenGates(
      r,
      standing.counted.map((v) => v.reviewerId),
      elig?.eligible && actor.kind === "user" ? actor.id : null,
    ));
    gatesJudgedAt = new Date().toISOString();
  } else {
    // The record of what was judged at the decision: an unreadable one is an error, not "no gates".
    gates = readJson(gateResultsColumn.nullable(), r.gateResults, { table: "promotion_requests", column: "gate_results", id: r.id }) ?? [];
    gatesJudgedAt = (r.decidedAt ?? r.updatedAt).toISOString();
  }
  const waiverIds = [...new Set([...r.reviews.flatMap((v) => v.waiverIds), ...gates.flatMap((g) => g.waiverIds)])];
  const waivers = waiverIds.length ? await db.waiver.findMany({ where: { id: { in: waiverIds } }, include: { grantedBy: { select: { name: true } } } }) : [];
  const waiverMember = actor.kind === "user" && r.requesterId !== actor.id && !!r.stage.waiverGroupId && r.viewer.waiverMember;
  const reviewed = actor.kind === "user" ? r.reviews.find((v) => v.reviewerId === actor.id) : undefined;
  const canWaive = waiverMember;
  return {
    id: r.id,
    status: r.status,
    state: approvalEndedLabel(r.approval) ?? requestStateLabel(r.status, r.approval?.status, approvers.length, r.stage.requiredApprovals),
    note: r.note,
    createdAt: r.createdAt.toISOString(),
    decidedAt: r.decidedAt?.toISOString() ?? null,
    breakGlass: r.breakGlass,
    requester: r.requester ? { name: r.requester.name, email: r.requester.email } : null,
    image: { registry: r.image.repository.registry.name, repository: r.image.repository.name, digest: r.image.digest },
    stage: { name: r.stage.name, requiredApprovals: r.stage.requiredApprovals, reviewerGroups: groups, waiverGroup: r.stage.waiverGroup?.name ?? null },
    approvals: {
      count: approvers.length,
      required: r.stage.requiredApprovals,
      summary: approvalsSummary(r.stage.requiredApprovals, groups, approvers, standing.notCounted),
      /** Earlier approvals that no longer count, and why ("carol@example.com: the account is disabled"). */
      notCounted: standing.notCounted,
    },
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
      /** Gates that pass for the request but would fail for the viewer's own approval (four eyes), each with why. */
      fourEyes,
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

import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { evaluateGates, hasConfiguredGates } from "../../policy/gates";
import { assertOverridesSeen } from "./break-glass-overrides";
import { stageGates } from "../stages/stage-gates";
import type { Actor } from "../actor";
import { appendAuditEvent, appendAuditEvents, type AuditEventInput } from "../audit/append-audit-event";
import { signApproval } from "../approvals/sign-approval";
import { emitEvent } from "../webhooks/emit-event";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { finishStageSignature } from "../approvals/finish-stage-signature";
import { gatherGateFacts } from "./gather-gate-facts";
import { countedApprovals, reviewerEligibility } from "./reviewer-eligibility";
import { loadRequestForReview, type RequestUnderReview } from "./load-request-for-review";
import { lockJudgementInputsShared } from "../reevaluation/judgement-inputs-lock";
import { gateResultsColumn, jsonColumn } from "../json-columns";

/** Keys of the signed payload's `optional` map. Values are strings: cosign compares annotations as strings. */
export const OPTIONAL_KEYS = {
  stage: "dev.imprimatur/stage",
  requestId: "dev.imprimatur/request-id",
  approvalId: "dev.imprimatur/approval-id",
  approver: "dev.imprimatur/approver-id",
  approvers: "dev.imprimatur/approvers",
  time: "dev.imprimatur/approved-at",
  breakGlass: "dev.imprimatur/break-glass",
  breakGlassReason: "dev.imprimatur/break-glass-reason",
  waivers: "dev.imprimatur/waivers",
} as const;

export interface ReviewRequestOptions {
  actor: Actor;
  requestId: string;
  decision: "approve" | "reject";
  /** Required; for a rejection it is the reason, for a break-glass approval the justification. */
  comment: string;
  /** An admin approving outside the rules (four eyes, groups, failing gates). Audited and marked in the signed payload. */
  breakGlass?: boolean;
  /**
   * With break glass: the failing gates (labels) the confirmation showed; one failing now that it did not refuses
   * (409). Absent counts as none shown, so a break glass over failing gates must name them.
   */
  expectOverrides?: readonly string[];
  /**
   * With break glass: the vulnerability ids over a findings gate's limit that the confirmation showed. A findings gate
   * failing now on an id it did not show (a critical CVE matched since, under the same gate label) refuses (409).
   */
  expectFailingIds?: readonly string[];
  /**
   * Where the stage signature's accessories (bundle referrer, verification summary) run once the answer is sent: the
   * route passes Next's `after()`. Unset: awaited before returning. See finishStageSignature.
   */
  later?: (task: () => Promise<void>) => void | Promise<void>;
}

export type ReviewOutcome = {
  requestId: string;
  reviewId: string;
  decision: "approve" | "reject";
  /** true when this reviewer had already given the same decision: a double submission counts once. */
  duplicate: boolean;
  status: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  approvals: number;
  required: number;
  approvalId: string | null;
  pendingReason?: string;
  /** Earlier approvals that no longer count towards N, and why ("carol@example.com: the account is disabled"). */
  notCounted?: string[];
};

const MIN_BREAK_GLASS_REASON = 10;

type UserActor = Extract<Actor, { kind: "user" }>;

/**
 * The trimmed comment and the reviewing user, once the review's inputs are acceptable: a reason where one is needed,
 * break-glass for admins only, a user (not the CLI or the system), a request id that can exist.
 */
function checkReviewInput({
  actor,
  requestId,
  decision,
  comment,
  breakGlass,
}: Required<Omit<ReviewRequestOptions, "later" | "expectOverrides" | "expectFailingIds">>): {
  text: string;
  actor: UserActor;
} {
  const text = comment.trim();
  if (decision === "reject" && text.length < 3) throw new AppError("INVALID_INPUT", "a rejection needs a reason", "comment");
  if (breakGlass) {
    if (actor.kind !== "user" || actor.role !== "admin") throw new AppError("FORBIDDEN", "break-glass approval is for admins only");
    // Break-glass overrides four eyes, groups and failing gates: an admin power, not a review. A token scoped to `review`
    // (say, a pipeline's) must not carry it; only one with the admin scope may, as for every other admin action.
    if (actor.via === "token" && !(actor.scopes ?? []).includes("admin"))
      throw new AppError(
        "FORBIDDEN",
        `break-glass overrides four eyes and the gates: an API token needs the admin scope for it (this one has ${(actor.scopes ?? []).join(", ") || "none"})`,
      );
    if (decision !== "approve") throw new AppError("INVALID_INPUT", "break-glass applies to approvals only", "breakGlass");
    if (text.length < MIN_BREAK_GLASS_REASON)
      throw new AppError("INVALID_INPUT", `a break-glass approval needs a reason of at least ${MIN_BREAK_GLASS_REASON} characters`, "comment");
  }
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "reviews are made by a user (session or API token), not by the CLI or the system");
  if (!isUuid(requestId)) throw new AppError("NOT_FOUND", "no such promotion request");
  return { text, actor };
}

/**
 * The review's reviewer, and who they count as too for four eyes as of now (their password lineage, recorded on the
 * review: promotions/password-lineage.ts); later reviews and re-evaluations judge the approval on it.
 */
function reviewedBy({ actor, requestId, request }: { actor: UserActor; requestId: string; request: RequestUnderReview }) {
  return { requestId, reviewerId: actor.id, reviewerLineageIds: request.reviewer.passwordLineage.map((p) => p.id) };
}

/** A rejection: the review, the request closed as rejected, its audit event and webhook. Returns the review id. */
async function recordRejection(
  tx: Tx,
  {
    actor,
    requestId,
    request,
    target,
    text,
    now,
  }: { actor: UserActor; requestId: string; request: RequestUnderReview; target: string; text: string; now: Date },
) {
  const review = await tx.review.create({ data: { ...reviewedBy({ actor, requestId, request }), decision: "reject", comment: text, gateResults: [] } });
  await tx.promotionRequest.update({ where: { id: requestId }, data: { status: "rejected", decidedAt: now, updatedAt: now } });
  await appendAuditEvent(tx, {
    actor,
    action: "request.reject",
    targetDigest: request.image.digest,
    target,
    detail: { requestId, stage: request.stage.name, reason: text },
  });
  await emitEvent(
    tx,
    "request.rejected",
    {
      requestId,
      stage: request.stage.name,
      digest: request.image.digest,
      repository: target,
      by: actor.email,
      reason: text,
    },
    request.webhooks,
  );
  return review.id;
}

/**
 * The Nth distinct approval: the server signs the digest for the stage, the request becomes approved, with its
 * audit event and webhook, all in the caller's transaction. Returns the approval id.
 */
async function signForStage(
  tx: Tx,
  {
    actor,
    requestId,
    request,
    target,
    text,
    breakGlass,
    waiverIds,
    gates,
    now,
    reviewEvent,
    counted,
  }: {
    actor: UserActor;
    requestId: string;
    request: RequestUnderReview;
    target: string;
    text: string;
    breakGlass: boolean;
    waiverIds: string[];
    /** The earlier approvals that still count (countedApprovals): only these are signed in as approvers. */
    counted: RequestUnderReview["reviews"];
    gates: ReturnType<typeof evaluateGates>;
    now: Date;
    /** The review's own event, appended first, with the key use and the approval (one INSERT for the three). */
    reviewEvent: AuditEventInput;
  },
) {
  const events: AuditEventInput[] = [reviewEvent];
  const approverIds = [...counted.map((r) => r.reviewerId), actor.id];
  const glass = breakGlass || counted.some((r) => r.breakGlass);
  const allWaivers = [...new Set([...counted.flatMap((r) => r.waiverIds), ...waiverIds])];
  const { approvalId, key, layerDigest } = await signApproval({
    tx,
    actor,
    request: { ...request, id: requestId },
    approverIds,
    breakGlassReason: glass ? [...counted.filter((r) => r.breakGlass).map((r) => r.comment), ...(breakGlass ? [text] : [])].join(" | ").slice(0, 500) : null,
    waiverIds: allWaivers,
    comment: text,
    now,
    auditInto: events,
  });
  await tx.promotionRequest.update({
    where: { id: requestId },
    data: { status: "approved", decidedAt: now, updatedAt: now, gateResults: jsonColumn(gateResultsColumn, gates), breakGlass: glass },
  });
  events.push({
    actor,
    action: "approval.create",
    targetDigest: request.image.digest,
    target,
    detail: {
      approvalId,
      requestId,
      stage: request.stage.name,
      key: key.name,
      keyFingerprint: key.fingerprint,
      layerDigest,
      approvers: approverIds,
      breakGlass: glass,
      waiverIds: allWaivers,
    },
  } satisfies AuditEventInput<"approval.create">);
  // review.approve (or review.break-glass), key.use, approval.create: in this order, in one INSERT, in this transaction.
  await appendAuditEvents(tx, events);
  await emitEvent(
    tx,
    "request.approved",
    { requestId, stage: request.stage.name, digest: request.image.digest, repository: target, approvers: approverIds },
    request.webhooks,
  );
  return approvalId;
}

/**
 * A reviewer approves or rejects a promotion request. Under the request's row lock: four eyes and groups are
 * checked, the gates are evaluated (a failing gate blocks unless a waiver covers it), the review is recorded,
 * and when it is the Nth distinct approval the server signs the digest for the stage, in the same transaction
 * as the audit events. The signature is then pushed; until it is in the registry the request reads "approved,
 * signature pending" and nothing reports the stage as passed.
 */
interface ApprovalStep {
  actor: UserActor;
  requestId: string;
  request: RequestUnderReview;
  target: string;
  text: string;
  breakGlass: boolean;
  /** Why the reviewer was not eligible, overridden by break glass. */
  overridable: string[];
  /** The failing gates and vulnerability ids the break-glass confirmation listed (see ReviewRequestOptions). */
  expectOverrides: readonly string[] | undefined;
  expectFailingIds: readonly string[] | undefined;
  /** The earlier approvals that still count towards N, and those that no longer do (with why). */
  standing: ReturnType<typeof countedApprovals<RequestUnderReview["reviews"][number]>>;
  now: Date;
}

/**
 * The stage's gates for this approval. A stage with no gate configured judges nothing: its facts (evidence, findings,
 * waivers, base) are not read. Four eyes: the requester's waivers, this reviewer's and those of the approvals already
 * counted do not count.
 */
async function judgeGates(tx: Tx, { actor, request, standing, now }: ApprovalStep, config: ReturnType<typeof stageGates>) {
  if (!hasConfiguredGates(config)) return [];
  const facts = await gatherGateFacts(tx, {
    imageId: request.imageId,
    stageId: request.stageId,
    now,
    requesterId: request.requesterId,
    approverIds: [actor.id, ...standing.counted.map((r) => r.reviewerId)],
  });
  return evaluateGates(config, facts);
}

/**
 * An approval that passed eligibility: the gates must hold (or be overridden by break glass); the review is recorded,
 * and the Nth distinct approval signs the digest for the stage in the same transaction.
 */
async function recordApproval(tx: Tx, step: ApprovalStep): Promise<ReviewOutcome> {
  const { actor, requestId, request, target, text, breakGlass, overridable, standing, now } = step;
  const { counted, notCounted } = standing;
  const config = stageGates(request.stage);
  const gates = await judgeGates(tx, step, config);
  const failing = gates.filter((g) => !g.passed);
  if (failing.length > 0 && !breakGlass) {
    throw new AppError(
      "POLICY_VIOLATION",
      `gate${failing.length === 1 ? "" : "s"} failed: ${failing.map((g) => `${g.label}: ${g.detail}`).join("; ")}. A waiver from the stage's waiver group is needed`,
    );
  }
  assertOverridesSeen(step, failing);
  const waiverIds = [...new Set(gates.flatMap((g) => g.waiverIds))];
  const review = await tx.review.create({
    data: { ...reviewedBy(step), decision: "approve", comment: text, breakGlass, waiverIds, gateResults: jsonColumn(gateResultsColumn, gates) },
  });
  const approvals = counted.length + 1;
  const reviewEvent: AuditEventInput = {
    actor,
    action: breakGlass ? "review.break-glass" : "review.approve",
    targetDigest: request.image.digest,
    target,
    detail: {
      requestId,
      stage: request.stage.name,
      comment: text,
      approvals,
      required: request.stage.requiredApprovals,
      waiverIds,
      ...(notCounted.length ? { notCounted } : {}),
      ...(breakGlass ? { overridden: [...overridable, ...failing.map((g) => `${g.label}: ${g.detail}`)] } : {}),
    },
  };
  if (approvals < request.stage.requiredApprovals) {
    await appendAuditEvent(tx, reviewEvent);
    await emitEvent(
      tx,
      "review.created",
      {
        requestId,
        stage: request.stage.name,
        digest: request.image.digest,
        repository: target,
        by: actor.email,
        approvals,
        required: request.stage.requiredApprovals,
      },
      request.webhooks,
    );
    return {
      requestId,
      reviewId: review.id,
      decision: "approve" as const,
      duplicate: false,
      status: "open" as const,
      approvals,
      required: request.stage.requiredApprovals,
      approvalId: null,
      ...(notCounted.length ? { notCounted } : {}),
    };
  }

  // The Nth distinct approval: sign the digest for the stage, in this transaction.
  const approvalId = await signForStage(tx, { actor, requestId, request, target, text, breakGlass, waiverIds, gates, now, reviewEvent, counted });
  return {
    requestId,
    reviewId: review.id,
    decision: "approve",
    duplicate: false,
    status: "approved" as const,
    approvals,
    required: request.stage.requiredApprovals,
    approvalId,
    ...(notCounted.length ? { notCounted } : {}),
  };
}

export async function reviewRequest(opts: ReviewRequestOptions): Promise<ReviewOutcome> {
  const { actor: caller, requestId, decision, comment, breakGlass = false, later } = opts;
  const { text, actor } = checkReviewInput({ actor: caller, requestId, decision, comment, breakGlass });

  let outcome: ReviewOutcome;
  try {
    outcome = await db.$transaction(
      async (tx) => {
        // A re-evaluation requested by a change to what this approval is judged by waits for it to commit (see the lock).
        if (decision === "approve") await lockJudgementInputsShared(tx);
        const request = await loadRequestForReview(tx, requestId, actor);
        const target = `${request.image.repository.registry.name}/${request.image.repository.name}`;
        // N distinct approvals from reviewers who may still approve: each earlier approver's standing was read again
        // with the request, under its row lock (disabled, role, groups, provenance uploads).
        const standing = countedApprovals(request);
        const counts = () => standing.counted.length;
        const mine = request.reviews.find((r) => r.reviewerId === actor.id);
        if (mine) {
          if (mine.decision === decision) {
            return {
              requestId,
              reviewId: mine.id,
              decision,
              duplicate: true,
              status: request.status,
              approvals: counts(),
              required: request.stage.requiredApprovals,
              approvalId: request.approval?.id ?? null,
            };
          }
          throw new AppError("CONFLICT", `you already ${mine.decision === "approve" ? "approved" : "rejected"} this request; a reviewer counts once`);
        }
        if (request.status !== "open") throw new AppError("CONFLICT", `this request is already ${request.status}; no further reviews are taken`);

        const elig = await reviewerEligibility(tx, { actor, request, known: request.reviewer, decision });
        if (!elig.eligible && !(breakGlass && elig.canBreakGlass)) throw new AppError("FORBIDDEN", elig.reasons.join("; "));

        const now = new Date();
        if (decision === "reject") {
          const reviewId = await recordRejection(tx, { actor, requestId, request, target, text, now });
          return {
            requestId,
            reviewId,
            decision,
            duplicate: false,
            status: "rejected" as const,
            approvals: counts(),
            required: request.stage.requiredApprovals,
            approvalId: null,
          };
        }

        const step = { actor, requestId, request, target, text, breakGlass, overridable: elig.reasons, standing, now };
        return recordApproval(tx, { ...step, expectOverrides: opts.expectOverrides, expectFailingIds: opts.expectFailingIds });
      },
      { timeout: 60_000, maxWait: 60_000 },
    );
  } catch (e) {
    if (e instanceof AppError && (e.code === "FORBIDDEN" || e.code === "POLICY_VIOLATION")) {
      await db.$transaction((tx) =>
        appendAuditEvent(tx, {
          actor,
          action: decision === "approve" ? "review.approve" : "review.reject",
          outcome: "denied",
          detail: { requestId, reason: e.message },
        }),
      );
    }
    throw e;
  }

  if (!outcome.duplicate) kickWebhooks();
  if (outcome.approvalId && !outcome.duplicate) {
    const pushed = await finishStageSignature({ actor, approvalId: outcome.approvalId, later });
    if (pushed.status === "signed") outcome.status = "signed";
    else outcome.pendingReason = pushed.error;
  }
  return outcome;
}

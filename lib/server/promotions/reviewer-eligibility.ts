import "server-only";
import { Prisma, type db, type Tx } from "../../db";
import type { Actor } from "../actor";
import { passwordSetByOther, temporaryPasswordRefusal } from "../users/password-standing";
import { lineageConflict, userLineageSql, type ApproverPersons, type LineagePerson } from "./password-lineage";

export interface Eligibility {
  /** May approve normally (in a reviewer group, not the requester, not the build's CI identity). */
  eligible: boolean;
  /** Why not, in plain words. */
  reasons: string[];
  /** Only an admin's break-glass approval (with a reason, audited, marked in the signed payload) could override these. */
  canBreakGlass: boolean;
}

/** The facts about the reviewer that eligibility reads from the database, when the caller has read them already. */
export interface ReviewerFacts {
  /** Who else set the reviewer's password (their email), or null: see users/password-standing.ts. */
  passwordSetBy: string | null;
  /** The users the reviewer's password descends from now (password-lineage.ts), whom they count as for four eyes. */
  passwordLineage: LineagePerson[];
  /** A member of one of the stage's reviewer groups (meaningless when the stage names none). */
  inReviewerGroup: boolean;
  /** Uploaded a provenance document of the request's image (withdrawn ones included). */
  uploadedProvenance: boolean;
}

/**
 * Four eyes and group membership for one reviewer on one request. The requester never approves, and neither does
 * the account that uploaded the build's provenance (the CI identity behind the build).
 */
export async function reviewerEligibility(
  client: Tx | typeof db,
  {
    actor,
    request,
    known,
    decision,
  }: {
    actor: Actor;
    request: {
      id: string;
      imageId: string;
      requesterId: string | null;
      /** The users the requester's password descends from now (password-lineage.ts); none when not read. */
      requesterLineage?: LineagePerson[];
      stage: { name: string; reviewerGroups: { group: { id: string; name: string } }[] };
      reviews: StandingReview[];
    };
    /** The reviewer's facts as read by the caller (in its transaction, with the request), instead of two more reads. */
    known?: ReviewerFacts;
    /** A rejection is not refused for sharing a person with an earlier approval (it approves nothing). */
    decision?: "approve" | "reject";
  },
): Promise<Eligibility> {
  if (actor.kind !== "user")
    return { eligible: false, reasons: ["reviews are made by a user (session or API token), not by the CLI or the system"], canBreakGlass: false };
  const reasons: string[] = [];
  // A temporary password (set by someone else, who knows it): no review at all, and no break glass either, whatever
  // credential of the account is used (a session, or a token or certificate made while in that state).
  const temporary = temporaryPasswordRefusal(known ? known.passwordSetBy : await passwordSetByOther(client, actor.id), "reviewing");
  if (temporary) reasons.push(temporary);
  if (actor.role !== "reviewer" && actor.role !== "admin") reasons.push(`reviewing needs role reviewer or admin; you are ${actor.role}`);
  const groups = request.stage.reviewerGroups.map((g) => g.group);
  if (groups.length > 0) {
    const member = known
      ? known.inReviewerGroup
      : !!(await client.groupMember.findFirst({ where: { userId: actor.id, groupId: { in: groups.map((g) => g.id) } }, select: { groupId: true } }));
    if (!member) reasons.push(`stage ${request.stage.name} is reviewed by group ${groups.map((g) => g.name).join(" or ")}, and you are not a member`);
  }
  if (request.requesterId === actor.id) reasons.push("you requested this promotion; four eyes: the requester cannot approve it");
  // Password lineage (password-lineage.ts): the reviewer may be whoever set their password, so not the requester nor
  // the same person as an approval already counted. Break glass overrides it as it does the rest of four eyes.
  const lineage = known ? known.passwordLineage : await readLineage(client, actor.id);
  const me = { id: actor.id, email: actor.email, lineage };
  const earlier = decision === "reject" ? [] : countedApprovals(request).counted.map(personsOf);
  const shared = lineageConflict(me, request.requesterId, earlier, true, request.requesterLineage);
  if (shared) reasons.push(shared);
  const built = known
    ? known.uploadedProvenance
    : !!(await client.evidenceDocument.findFirst({
        where: { imageId: request.imageId, kind: "provenance", uploaderId: actor.id },
        select: { id: true },
      }));
  if (built) reasons.push("you uploaded this build's provenance (the CI identity behind the build); four eyes: the build's author cannot approve it");
  return { eligible: reasons.length === 0, reasons, canBreakGlass: actor.role === "admin" && !temporary };
}

async function readLineage(client: Tx | typeof db, userId: string): Promise<LineagePerson[]> {
  const [row] = await client.$queryRaw<{ l: LineagePerson[] }[]>`SELECT ${userLineageSql(Prisma.sql`${userId}::uuid`)} AS l`;
  return row?.l ?? [];
}

const personsOf = (r: StandingReview): ApproverPersons => ({ id: r.reviewerId, email: r.reviewer.email, lineage: r.reviewer.passwordLineage });

/** An earlier reviewer's standing, read again under the request's row lock when a later review is judged. */
export interface ReviewerStanding {
  email: string;
  disabled: boolean;
  role: string;
  /** A member of one of the stage's reviewer groups now (meaningless when the stage names none). */
  inReviewerGroup: boolean;
  /** Uploaded a provenance document of the request's image (withdrawn ones included), before or after reviewing. */
  uploadedProvenance: boolean;
  /** The users their password descended from when they reviewed (reviews.reviewer_lineage_ids; password-lineage.ts). */
  passwordLineage: LineagePerson[];
}

type StandingReview = { reviewerId: string; decision: "approve" | "reject" | string; breakGlass: boolean; reviewer: ReviewerStanding };

/**
 * Why an earlier approval no longer counts towards N, or null while it does. N distinct approvals means N reviewers
 * who may approve at the moment the Nth arrives: an approval by an account since disabled, demoted out of the
 * reviewer role, removed from every reviewer group of the stage, or found to be the build's author (uploaded its
 * provenance after approving) is not counted. A break-glass approval overrode groups and four eyes when it was given:
 * it counts while its author is still an enabled admin (or could now approve without break glass).
 *
 * A password another user set since (users/password-standing.ts) does not discount an earlier approval: reviews are
 * refused while the password is someone else's, so every approval was given under the owner's own credentials, and a
 * routine reset must not put the reviewer's standing approvals at risk at the next re-evaluation (approval-quorum.ts).
 */
export function approvalNoLongerCounts(
  review: StandingReview,
  request: { requesterId: string | null; stage: { reviewerGroups: { group: { id: string; name: string } }[] } },
): string | null {
  const who = review.reviewer;
  if (who.disabled) return "the account is disabled";
  const why: string[] = [];
  if (who.role !== "reviewer" && who.role !== "admin") why.push(`the account's role is now ${who.role}`);
  const groups = request.stage.reviewerGroups.map((g) => g.group.name);
  if (groups.length > 0 && !who.inReviewerGroup) why.push(`no longer a member of group ${groups.join(" or ")}`);
  if (request.requesterId === review.reviewerId) why.push("requested this promotion");
  if (who.uploadedProvenance) why.push("uploaded this build's provenance (the build's author)");
  if (!why.length) return null;
  if (review.breakGlass) return who.role === "admin" ? null : `a break-glass approval by an account that is no longer an admin: ${why.join("; ")}`;
  return why.join("; ");
}

/**
 * The approvals that count towards N now, and those that no longer do with the reason ("carol@example.com: …"). In
 * the order given (the order they were made): one that shares a person (password-lineage.ts) with the requester or an
 * approval already counted is not counted, so one person behind several accounts counts once. A break-glass approval
 * overrode four eyes when it was given, so it counts (its persons still stop later ones).
 */
export function countedApprovals<R extends StandingReview>(request: {
  requesterId: string | null;
  requesterLineage?: LineagePerson[];
  stage: { reviewerGroups: { group: { id: string; name: string } }[] };
  reviews: R[];
}): { counted: R[]; notCounted: string[] } {
  const counted: R[] = [];
  const notCounted: string[] = [];
  for (const review of request.reviews) {
    if (review.decision !== "approve") continue;
    const why =
      approvalNoLongerCounts(review, request) ??
      (review.breakGlass ? null : lineageConflict(personsOf(review), request.requesterId, counted.map(personsOf), false, request.requesterLineage));
    if (why) notCounted.push(`${review.reviewer.email}: ${why}`);
    else counted.push(review);
  }
  return { counted, notCounted };
}

/**
 * The approvals a request's summary counts, wherever it is shown (the request page, the inbox, "my images"): while the
 * request is open, those that still count (countedApprovals, as the next review will judge them); a decided request's
 * approvals as they were when it was decided.
 */
export function standingApprovals<R extends StandingReview>(request: {
  status: string;
  requesterId: string | null;
  stage: { reviewerGroups: { group: { id: string; name: string } }[] };
  reviews: R[];
}): { counted: R[]; notCounted: string[] } {
  if (request.status === "open") return countedApprovals(request);
  return { counted: request.reviews.filter((v) => v.decision === "approve"), notCounted: [] };
}

import "server-only";
import { type db, type Tx } from "../../db";
import type { Actor } from "../actor";

export interface Eligibility {
  /** May approve normally (in a reviewer group, not the requester, not the build's CI identity). */
  eligible: boolean;
  /** Why not, in plain words. */
  reasons: string[];
  /** Only an admin's break-glass approval (with a reason, audited, marked in the signed payload) could override these. */
  canBreakGlass: boolean;
}

/** The two facts about the reviewer that eligibility reads from the database, when the caller has read them already. */
export interface ReviewerFacts {
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
  }: {
    actor: Actor;
    request: { id: string; imageId: string; requesterId: string | null; stage: { name: string; reviewerGroups: { group: { id: string; name: string } }[] } };
    /** The reviewer's facts as read by the caller (in its transaction, with the request), instead of two more reads. */
    known?: ReviewerFacts;
  },
): Promise<Eligibility> {
  if (actor.kind !== "user")
    return { eligible: false, reasons: ["reviews are made by a user (session or API token), not by the CLI or the system"], canBreakGlass: false };
  const reasons: string[] = [];
  if (actor.role !== "reviewer" && actor.role !== "admin") reasons.push(`reviewing needs role reviewer or admin; you are ${actor.role}`);
  const groups = request.stage.reviewerGroups.map((g) => g.group);
  if (groups.length > 0) {
    const member = known
      ? known.inReviewerGroup
      : !!(await client.groupMember.findFirst({ where: { userId: actor.id, groupId: { in: groups.map((g) => g.id) } }, select: { groupId: true } }));
    if (!member) reasons.push(`stage ${request.stage.name} is reviewed by group ${groups.map((g) => g.name).join(" or ")}, and you are not a member`);
  }
  if (request.requesterId === actor.id) reasons.push("you requested this promotion; four eyes: the requester cannot approve it");
  const built = known
    ? known.uploadedProvenance
    : !!(await client.evidenceDocument.findFirst({
        where: { imageId: request.imageId, kind: "provenance", uploaderId: actor.id },
        select: { id: true },
      }));
  if (built) reasons.push("you uploaded this build's provenance (the CI identity behind the build); four eyes: the build's author cannot approve it");
  return { eligible: reasons.length === 0, reasons, canBreakGlass: actor.role === "admin" };
}

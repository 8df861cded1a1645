import "server-only";
import { Prisma, type db, type Tx } from "../../db";
import { parseSimpleSigningPayload } from "../../signing/formats/simple-signing";
import { REVIEWER_STANDING_FIELDS } from "../promotions/load-request-for-review";
import { userLineageSql, type LineagePerson } from "../promotions/password-lineage";
import { countedApprovals, type ReviewerStanding } from "../promotions/reviewer-eligibility";
import { OPTIONAL_KEYS } from "../promotions/review-request";

type Row = {
  approval_id: string;
  payload: Uint8Array;
  requester_id: string | null;
  requester_lineage: LineagePerson[];
  required_approvals: number;
  reviewer_groups: { id: string; name: string }[];
  reviews: { reviewerId: string; decision: string; breakGlass: boolean; reviewer: ReviewerStanding }[];
};

/** The approvers the stage signature names (null for a payload that names none, as the walking skeleton's did). */
function signedApprovers(payload: Uint8Array): Set<string> | null {
  const p = parseSimpleSigningPayload(payload);
  if ("error" in p) return null;
  const list = p.optional?.[OPTIONAL_KEYS.approvers];
  return typeof list === "string" && list ? new Set(list.split(",")) : null;
}

/**
 * Whether each of these standing approvals still has its quorum: the approvals of its request that count now
 * (countedApprovals, the rule a review applies to earlier approvals: an approver since disabled, demoted, out of every
 * reviewer group of the stage, or found to be the build's author does not count; a break-glass approval counts while
 * its author is an enabled admin) against the stage's requiredApprovals as it is now. Only the approvers the stage
 * signature names are counted: a review the signature did not count does not make up the quorum later.
 *
 * As for gates (reevaluate-approvals.ts judges every standing approval against the stage's gates as they are now, old
 * approvals included), the stage's N is the one in force now: raising N puts older approvals with fewer counted
 * approvers at risk, and lowering N and raising it again (or joining a reviewer group for one approval and leaving
 * again) does not leave an approval standing on fewer approvers than the stage requires.
 *
 * Returns the reasons per approval id; an approval whose quorum holds (or that concludes no request, so has no
 * reviews to count) has none.
 */
export async function quorumReasons(client: Tx | typeof db, approvalIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!approvalIds.length) return out;
  const rows = await client.$queryRaw<Row[]>`
    SELECT a.id AS approval_id, a.payload, pr.requester_id, ${userLineageSql(Prisma.sql`pr.requester_id`)} AS requester_lineage, s.required_approvals,
           COALESCE((SELECT json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY g.name)
                       FROM stage_reviewer_groups sg JOIN groups g ON g.id = sg.group_id WHERE sg.stage_id = s.id), '[]'::json) AS reviewer_groups,
           COALESCE((SELECT json_agg(json_build_object('reviewerId', v.reviewer_id, 'decision', v.decision, 'breakGlass', v.break_glass,
                                                       'reviewer', json_build_object(${Prisma.raw(REVIEWER_STANDING_FIELDS)})) ORDER BY v.created_at, v.id)
                       FROM reviews v JOIN users ru ON ru.id = v.reviewer_id WHERE v.request_id = pr.id AND v.decision = 'approve'), '[]'::json) AS reviews
      FROM approvals a
      JOIN promotion_requests pr ON pr.id = a.request_id
      JOIN stages s ON s.id = pr.stage_id
     WHERE a.id = ANY(${[...new Set(approvalIds)]}::uuid[])`;
  for (const r of rows) {
    const signed = signedApprovers(r.payload);
    const reviews = signed ? r.reviews.filter((v) => signed.has(v.reviewerId)) : r.reviews;
    const { counted, notCounted } = countedApprovals({
      requesterId: r.requester_id,
      requesterLineage: r.requester_lineage,
      stage: { reviewerGroups: r.reviewer_groups.map((group) => ({ group })) },
      reviews,
    });
    if (counted.length >= r.required_approvals) continue;
    out.set(r.approval_id, [
      `approvals: has ${counted.length} of ${r.required_approvals} approvals that count (N raised, or an approver no longer counts)` +
        (notCounted.length ? `; not counted: ${notCounted.join("; ")}` : ""),
    ]);
  }
  return out;
}

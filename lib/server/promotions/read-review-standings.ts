import "server-only";
import { Prisma, type db, type Tx } from "../../db";
import { REVIEWER_STANDING_FIELDS } from "./load-request-for-review";
import type { ReviewerStanding } from "./reviewer-eligibility";

/** A review with its reviewer's standing now, in the shape countedApprovals judges. */
export interface ReviewWithStanding {
  reviewerId: string;
  decision: string;
  comment: string;
  breakGlass: boolean;
  reviewer: { name: string } & ReviewerStanding;
}

/**
 * The reviews of these requests, each with its reviewer's standing now (the same fields the review reads under the
 * request's lock, REVIEWER_STANDING_FIELDS), in one statement: lists and summaries count approvals as the review does
 * (standingApprovals), not every approving review ever made.
 */
export async function readReviewStandings(client: Tx | typeof db, requestIds: readonly string[]): Promise<Map<string, ReviewWithStanding[]>> {
  if (!requestIds.length) return new Map();
  const rows = await client.$queryRaw<{ id: string; reviews: ReviewWithStanding[] }[]>`
    SELECT pr.id,
           COALESCE((SELECT json_agg(json_build_object('reviewerId', v.reviewer_id, 'decision', v.decision, 'comment', v.comment, 'breakGlass', v.break_glass,
                                                       'reviewer', json_build_object('name', ru.name, ${Prisma.raw(REVIEWER_STANDING_FIELDS)}))
                                     ORDER BY v.created_at, v.id)
                       FROM reviews v JOIN users ru ON ru.id = v.reviewer_id WHERE v.request_id = pr.id), '[]'::json) AS reviews
      FROM promotion_requests pr
      JOIN stages s ON s.id = pr.stage_id
     WHERE pr.id = ANY(${[...new Set(requestIds)]}::uuid[])`;
  return new Map(rows.map((r) => [r.id, r.reviews]));
}

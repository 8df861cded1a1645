import "server-only";
import { Prisma, type Tx } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { ENABLED_WEBHOOKS_JSON, type EnabledWebhook } from "../webhooks/emit-event";
import { passwordSetBySql } from "../users/password-standing";
import { lineageJson, userLineageSql, type LineagePerson } from "./password-lineage";
import type { ReviewerFacts, ReviewerStanding } from "./reviewer-eligibility";

type UserActor = Extract<Actor, { kind: "user" }>;

/** The request as the review judges it: its stage, image, reviews so far, approval, and the reviewer's standing. */
export interface RequestUnderReview {
  id: string;
  imageId: string;
  stageId: string;
  requesterId: string | null;
  /** The users the requester's password descends from now (password-lineage.ts). */
  requesterLineage: LineagePerson[];
  status: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  stage: { id: string; name: string; requiredApprovals: number; gates: unknown; reviewerGroups: { group: { id: string; name: string } }[] };
  image: { digest: string; repository: { name: string; registry: { name: string; url: string; pullName: string | null } } };
  /** Each with its reviewer's standing now (disabled, role, groups, provenance uploads): an approval counts only while it holds. */
  reviews: {
    id: string;
    reviewerId: string;
    decision: "approve" | "reject";
    breakGlass: boolean;
    waiverIds: string[];
    comment: string;
    reviewer: ReviewerStanding;
  }[];
  approval: { id: string } | null;
  /** The reviewer's four-eyes facts (reviewerEligibility), read with the request. */
  reviewer: ReviewerFacts;
  /** Enabled webhooks (emitEvent's outbox), read with the request. */
  webhooks: EnabledWebhook[];
}

type LoadedRow = {
  id: string;
  image_id: string;
  stage_id: string;
  requester_id: string | null;
  status: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  stage_name: string;
  required_approvals: number;
  gates: unknown;
  digest: string;
  repository: string;
  registry_name: string;
  registry_url: string;
  pull_name: string | null;
  reviewer_groups: { id: string; name: string }[];
  reviews: RequestUnderReview["reviews"];
  approval_id: string | null;
  in_reviewer_group: boolean;
  uploaded_provenance: boolean;
  password_set_by: string | null;
  password_lineage: LineagePerson[];
  requester_lineage: LineagePerson[];
  webhooks: EnabledWebhook[];
};

/**
 * A reviewer's standing now, as json_build_object's key/value arguments (ReviewerStanding), inside a sub-select over `reviews v JOIN users ru` with the
 * request `pr` and its stage `s` in scope: whether an earlier approval still counts is judged on these.
 */
export const REVIEWER_STANDING_FIELDS = `
  'email', ru.email, 'disabled', ru.disabled, 'role', ru.role,
  'inReviewerGroup', EXISTS (SELECT 1 FROM stage_reviewer_groups sg JOIN group_members gm ON gm.group_id = sg.group_id
                              WHERE sg.stage_id = s.id AND gm.user_id = v.reviewer_id),
  'uploadedProvenance', EXISTS (SELECT 1 FROM evidence_documents d
                                 WHERE d.image_id = pr.image_id AND d.kind = 'provenance' AND d.uploader_id = v.reviewer_id),
  'passwordLineage', ${lineageJson("v.reviewer_lineage_ids")}`;

/**
 * The request under its row lock (FOR UPDATE), then, in one statement, everything the review reads: stage, image,
 * reviews so far (with each reviewer's standing now), approval, the reviewer's group membership and provenance uploads,
 * the enabled webhooks. Two statements, not one: under READ COMMITTED a statement's subqueries see its starting snapshot, so reviews read in the
 * locking statement could miss one committed by the transaction it waited for; the second statement starts after the
 * lock is held and sees every review committed before it.
 */
export async function loadRequestForReview(tx: Tx, requestId: string, actor: UserActor): Promise<RequestUnderReview> {
  const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM promotion_requests WHERE id = ${requestId}::uuid FOR UPDATE`;
  if (locked.length === 0) throw new AppError("NOT_FOUND", "no such promotion request");
  const [r] = await tx.$queryRaw<LoadedRow[]>`
    SELECT pr.id, pr.image_id, pr.stage_id, pr.requester_id, pr.status::text AS status,
           s.name AS stage_name, s.required_approvals, s.gates,
           i.digest, rp.name AS repository, rg.name AS registry_name, rg.url AS registry_url, rg.pull_name,
           COALESCE((SELECT json_agg(json_build_object('id', g.id, 'name', g.name) ORDER BY g.name)
                       FROM stage_reviewer_groups sg JOIN groups g ON g.id = sg.group_id WHERE sg.stage_id = s.id), '[]'::json) AS reviewer_groups,
           COALESCE((SELECT json_agg(json_build_object('id', v.id, 'reviewerId', v.reviewer_id, 'decision', v.decision, 'breakGlass', v.break_glass,
                                                       'waiverIds', v.waiver_ids, 'comment', v.comment,
                                                       'reviewer', json_build_object(${Prisma.raw(REVIEWER_STANDING_FIELDS)})) ORDER BY v.created_at, v.id)
                       FROM reviews v JOIN users ru ON ru.id = v.reviewer_id WHERE v.request_id = pr.id), '[]'::json) AS reviews,
           (SELECT a.id FROM approvals a WHERE a.request_id = pr.id) AS approval_id,
           EXISTS (SELECT 1 FROM stage_reviewer_groups sg JOIN group_members gm ON gm.group_id = sg.group_id
                    WHERE sg.stage_id = s.id AND gm.user_id = ${actor.id}::uuid) AS in_reviewer_group,
           EXISTS (SELECT 1 FROM evidence_documents d
                    WHERE d.image_id = pr.image_id AND d.kind = 'provenance' AND d.uploader_id = ${actor.id}::uuid) AS uploaded_provenance,
           ${passwordSetBySql(Prisma.sql`${actor.id}::uuid`)} AS password_set_by,
           ${userLineageSql(Prisma.sql`${actor.id}::uuid`)} AS password_lineage,
           ${userLineageSql(Prisma.sql`pr.requester_id`)} AS requester_lineage,
           ${Prisma.raw(ENABLED_WEBHOOKS_JSON)} AS webhooks
      FROM promotion_requests pr
      JOIN stages s ON s.id = pr.stage_id
      JOIN images i ON i.id = pr.image_id
      JOIN repositories rp ON rp.id = i.repository_id
      JOIN registries rg ON rg.id = rp.registry_id
     WHERE pr.id = ${requestId}::uuid`;
  if (!r) throw new AppError("NOT_FOUND", "no such promotion request");
  return {
    id: r.id,
    imageId: r.image_id,
    stageId: r.stage_id,
    requesterId: r.requester_id,
    requesterLineage: r.requester_lineage,
    status: r.status,
    stage: {
      id: r.stage_id,
      name: r.stage_name,
      requiredApprovals: r.required_approvals,
      gates: r.gates,
      reviewerGroups: r.reviewer_groups.map((group) => ({ group })),
    },
    image: { digest: r.digest, repository: { name: r.repository, registry: { name: r.registry_name, url: r.registry_url, pullName: r.pull_name } } },
    reviews: r.reviews,
    approval: r.approval_id ? { id: r.approval_id } : null,
    reviewer: {
      inReviewerGroup: r.in_reviewer_group,
      uploadedProvenance: r.uploaded_provenance,
      passwordSetBy: r.password_set_by,
      passwordLineage: r.password_lineage,
    },
    webhooks: r.webhooks,
  };
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { reviewRequest } from "../promotions/review-request";
import { getRequest } from "../promotions/get-request";

export { OPTIONAL_KEYS } from "../promotions/review-request";

export interface ApproveStageOptions {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
  stage: string;
  comment: string;
  breakGlass?: boolean;
}

/**
 * Approves the open promotion request of this digest for this stage (the API's and UI's "approve" on an image).
 * There is no approval without a request: a developer asks first, so four eyes always has a requester to compare.
 */
export async function approveStage({ actor, registry, repository, digest, stage, comment, breakGlass }: ApproveStageOptions) {
  const reg = registry ? await db.registry.findUnique({ where: { name: registry } }) : null;
  const request = await db.promotionRequest.findFirst({
    where: { stage: { name: stage }, status: "open", image: { digest, repository: { name: repository, ...(reg ? { registryId: reg.id } : {}) } } },
    orderBy: { createdAt: "desc" },
    select: { id: true },
  });
  if (!request) throw new AppError("POLICY_VIOLATION", `no open promotion request for ${repository}@${digest} to stage ${stage}; a developer must request the promotion first`);
  const outcome = await reviewRequest({ actor, requestId: request.id, decision: "approve", comment, breakGlass });
  return { ...outcome, request: await getRequest({ actor, requestId: request.id }) };
}

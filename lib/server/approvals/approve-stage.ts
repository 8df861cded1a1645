import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Digest } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
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
  requireRole(actor, ["reviewer", "admin"], "approving a stage");
  const reg = registry ? await db.registry.findUnique({ where: { name: registry } }) : null;
  // What is unknown is a 404 naming it; only a known image and stage without an open request is a 409.
  if (registry && !reg) throw new AppError("NOT_FOUND", `no registry named ${registry}`, "registry");
  if (!(await db.stage.findUnique({ where: { name: stage }, select: { id: true } }))) throw new AppError("NOT_FOUND", `no stage named ${stage}`, "stage");
  const images = await db.image.findMany({
    where: { digest, repository: { name: repository, ...(reg ? { registryId: reg.id } : {}) } },
    select: { id: true, repository: { select: { registry: { select: { name: true } } } } },
  });
  if (!images.length)
    throw new AppError("NOT_FOUND", `no image ${repository}@${digest}${registry ? ` in registry ${registry}` : ""} in the inventory`, "digest");
  // Without a registry the approval must not land on whichever registry's request is newest: the same repository and
  // digest in two registries are two requests, with their own evidence and waivers, and the reviewer approves one.
  if (images.length > 1)
    throw new AppError(
      "INVALID_INPUT",
      `registry is required: ${repository}@${digest} is in several registries (${images.map((i) => i.repository.registry.name).join(", ")})`,
      "registry",
    );
  const request = await db.promotionRequest.findFirst({
    where: { stage: { name: stage }, status: "open", imageId: images[0]!.id },
    orderBy: { createdAt: "desc" },
    select: { id: true },
  });
  if (!request)
    throw new AppError(
      "POLICY_VIOLATION",
      `no open promotion request for ${repository}@${digest} to stage ${stage}; a developer must request the promotion first`,
    );
  const outcome = await reviewRequest({ actor, requestId: request.id, decision: "approve", comment, breakGlass });
  const approval = outcome.approvalId
    ? await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId }, include: { signingKey: { select: { name: true, fingerprint: true } } } })
    : null;
  return {
    requestId: outcome.requestId,
    duplicate: outcome.duplicate,
    approvals: outcome.approvals,
    required: outcome.required,
    /** The stage signature's id, once the Nth approval made one. */
    id: approval?.id ?? null,
    /** "signing" (committed, not yet in the registry), "signed", or "awaiting approvals". */
    status: approval?.status ?? ("awaiting approvals" as const),
    ...(outcome.pendingReason ? { pendingReason: outcome.pendingReason } : {}),
    signature: approval
      ? { key: approval.signingKey, layerDigest: approval.layerDigest, payload: Buffer.from(approval.payload).toString("utf8"), signature: approval.signature }
      : null,
    request: await getRequest({ actor, requestId: request.id }),
  };
}

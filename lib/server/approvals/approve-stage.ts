import "server-only";
import { randomUUID } from "node:crypto";
import { bytes, db } from "../../db";
import { AppError } from "../../errors";
import { OciError, sha256Digest, type Digest } from "../../oci/digest";
import { pullReference } from "../../oci/reference";
import { buildSimpleSigningPayload } from "../../signing/simple-signing";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { findStageKey, signWithKey } from "../keys/load-stage-signer";
import { registryClient, resolveRegistry, toAppError } from "../registries/resolve-registry";
import { storeManifest } from "../images/store-manifest";
import { ensureRepository } from "../registries/ensure-repository";
import { pushApprovalSignature } from "./push-approval-signature";

export interface ApproveStageOptions {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
  stage: string;
  comment: string;
}

/** Keys of the signed payload's `optional` map. Values are strings: cosign compares annotations as strings. */
export const OPTIONAL_KEYS = {
  stage: "dev.imprimatur/stage",
  approvalId: "dev.imprimatur/approval-id",
  approver: "dev.imprimatur/approver-id",
  time: "dev.imprimatur/approved-at",
} as const;

/**
 * A reviewer approves a stage for a digest, and the server signs the digest with the stage key.
 *
 * Order, so that a failure leaves no lie: (1) commit the approval as `signing` with the exact payload,
 * signature and audit event; (2) push to the registry; (3) mark it `signed`. If (2) fails the approval
 * stays `signing` and `imprimatur retry` or the next sync completes it.
 */
export async function approveStage({ actor, registry: registryName, repository, digest, stage: stageName, comment }: ApproveStageOptions) {
  requireRole(actor, ["reviewer", "admin"], "approving a stage");
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "approvals are made by a user (session or API token), not by the CLI");
  const stage = await db.stage.findUnique({ where: { name: stageName } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  const reg = await resolveRegistry(registryName);
  const client = registryClient(reg);

  // The digest must exist in the registry now. If the registry is unreachable we accept an approval only for
  // an image we have already seen there; its signature then stays pending until the registry is back.
  const repoRow = await db.repository.findUnique({ where: { registryId_name: { registryId: reg.id, name: repository } } });
  let image = repoRow ? await db.image.findUnique({ where: { repositoryId_digest: { repositoryId: repoRow.id, digest } } }) : null;
  try {
    const head = await client.headManifest(repository, digest);
    if (!head) throw new AppError("NOT_FOUND", `registry ${reg.name} has no manifest ${repository}@${digest}`, "digest");
  } catch (e) {
    if (!(e instanceof OciError && e.code === "UNAVAILABLE" && image)) throw toAppError(e, `checking ${repository}@${digest}`);
  }
  if (!image) {
    const repo = repoRow ?? (await ensureRepository(reg.id, repository));
    try {
      const stored = await storeManifest({ client, repositoryId: repo.id, repository, digest });
      image = await db.image.findUniqueOrThrow({ where: { id: stored.id } });
    } catch (e) {
      throw toAppError(e, `reading ${repository}@${digest}`);
    }
  }
  if (image.parentDigest) {
    throw new AppError("INVALID_INPUT", `${digest} is a platform manifest of index ${image.parentDigest}; approve the index, as cosign signs it`, "digest");
  }

  const key = await findStageKey(stage.id);
  const id = randomUUID();
  const now = new Date();
  const payload = buildSimpleSigningPayload({
    dockerReference: pullReference(reg.url, reg.pullName, repository),
    digest,
    optional: {
      [OPTIONAL_KEYS.stage]: stage.name,
      [OPTIONAL_KEYS.approvalId]: id,
      [OPTIONAL_KEYS.approver]: actor.id,
      [OPTIONAL_KEYS.time]: now.toISOString(),
    },
  });
  const signature = (await signWithKey(key.id, payload)).toString("base64");
  const layerDigest = sha256Digest(payload);
  const imageId = image.id;

  await db.$transaction(async (tx) => {
    await tx.approval.create({
      data: { id, imageId, stageId: stage.id, approverId: actor.id, signingKeyId: key.id, comment, status: "signing", payload: bytes(payload), signature, layerDigest, createdAt: now },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "approval.create",
      targetDigest: digest,
      target: `${reg.name}/${repository}`,
      detail: { approvalId: id, stage: stage.name, key: key.name, keyFingerprint: key.fingerprint, layerDigest, comment },
    });
  });

  const pushed = await pushApprovalSignature({ actor, approvalId: id });
  const approval = await db.approval.findUniqueOrThrow({ where: { id } });
  return {
    id,
    registry: reg.name,
    repository,
    digest,
    stage: stage.name,
    comment,
    status: approval.status,
    createdAt: approval.createdAt.toISOString(),
    signedAt: approval.signedAt?.toISOString() ?? null,
    ...(pushed.status === "signing" ? { pendingReason: pushed.error } : {}),
    signature: {
      key: { name: key.name, fingerprint: key.fingerprint },
      layerDigest,
      payload: payload.toString("utf8"),
      signature,
    },
  };
}

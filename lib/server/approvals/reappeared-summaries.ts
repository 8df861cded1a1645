import "server-only";
import { db } from "../../db";
import { appendAuditEvent } from "../audit/append-audit-event";

/**
 * A revoked approval's signed SLSA verification summary put back into the registry (its `.att` layer pushed again, e.g.
 * by re-pushing a saved `.att` manifest) would satisfy `cosign verify-attestation --type …verification_summary` with the
 * stage key. The sync calls this with the layers of every new accessory manifest it reads: a summary of this image
 * that was removed and is listed again is marked to be removed again, and its approval's revocation goes back to
 * "pending" (audited), so the scheduler tick takes it out, as a reappeared `.sig` layer is (refresh-signatures.ts).
 */
export async function reopenReappearedSummaries({ imageId, layerDigests }: { imageId: string; layerDigests: readonly string[] }): Promise<number> {
  if (layerDigests.length === 0) return 0;
  const back = await db.verificationSummary.findMany({
    where: { imageId, status: "removed", layerDigest: { in: [...layerDigests] } },
    select: { id: true, approvalId: true, layerDigest: true },
  });
  if (back.length === 0) return 0;
  const error = `the revoked approval's verification summary reappeared in the registry (seen ${new Date().toISOString()}); removing it again`;
  return db.$transaction(async (tx) => {
    const ids = back.map((b) => b.approvalId);
    // Only approvals whose removal is done: one in progress keeps its own state.
    const reopened = await tx.approval.updateMany({
      where: { id: { in: ids }, revokedAt: { not: null }, revocationState: "removed" },
      data: { revocationState: "pending", revocationError: error },
    });
    if (reopened.count === 0) return 0;
    // "pushed" again, so that removeVerificationSummary looks for its layer once more.
    await tx.verificationSummary.updateMany({ where: { id: { in: back.map((b) => b.id) }, status: "removed" }, data: { status: "pushed", removedAt: null } });
    const image = await tx.image.findUniqueOrThrow({
      where: { id: imageId },
      select: { digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } },
    });
    await appendAuditEvent(tx, {
      actor: { kind: "system", label: "signature refresh" },
      action: "approval.revoke.registry",
      outcome: "failure",
      targetDigest: image.digest,
      target: `${image.repository.registry.name}/${image.repository.name}`,
      detail: { approvalIds: ids, error },
    });
    return reopened.count;
  });
}

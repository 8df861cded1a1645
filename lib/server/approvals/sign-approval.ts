import "server-only";
import { randomUUID } from "node:crypto";
import { bytes, type Tx } from "../../db";
import { AppError } from "../../errors";
import { sha256Digest } from "../../oci/digest";
import { pullReference } from "../../oci/reference";
import { buildSimpleSigningPayload } from "../../signing/formats/simple-signing";
import type { Actor } from "../actor";
import type { AuditEventInput } from "../audit/append-audit-event";
import { findStageSigner, signWithSigner } from "../keys/load-stage-signer";
import { OPTIONAL_KEYS } from "../promotions/review-request";

export interface SignApprovalOptions {
  /** The reviewing transaction: the approval row, the key read and its `key.use` audit event commit with the review. */
  tx: Tx;
  /** The reviewer whose approval was the Nth: recorded as the approver and as who caused the signature. */
  actor: Actor & { id: string };
  request: {
    id: string;
    imageId: string;
    stageId: string;
    stage: { name: string };
    image: { digest: string; repository: { name: string; registry: { url: string; pullName: string | null } } };
  };
  /** Every approving reviewer, in order, written into the signed payload. */
  approverIds: string[];
  /** Set for a break-glass approval: the reviewers' stated reasons, written into the signed payload. */
  breakGlassReason: string | null;
  waiverIds: string[];
  comment: string;
  now: Date;
  /** The `key.use` event goes here; the caller appends it with its other events, in `tx` (appendAuditEvents). */
  auditInto: AuditEventInput[];
}

/**
 * Holds the key row (FOR KEY SHARE, until this approval commits: the lock the approval's foreign key takes anyway,
 * taken before signing) and reads its revocation again. A key revocation
 * (revoke-stage-key.ts) locks the row FOR UPDATE and, in the same transaction, revokes every approval of the key it
 * can see: one that committed after findStageSigner read the key is seen here and the approval is refused; one that
 * starts later waits for this approval to commit and then revokes it with the others. Without the lock an approval
 * that read the key just before the revocation committed after it, unrevoked, signed by the compromised key. Not
 * FOR SHARE: that would also wait for (and deadlock with) a rotation retiring the key while holding the stage row.
 */
async function assertKeyStillValid(tx: Tx, key: { id: string; name: string }, now: Date) {
  const [row] = await tx.$queryRaw<{ revoked_at: Date | null }[]>`SELECT revoked_at FROM signing_keys WHERE id = ${key.id}::uuid FOR KEY SHARE`;
  if (!row || (row.revoked_at && row.revoked_at <= now))
    throw new AppError(
      "POLICY_VIOLATION",
      `the stage key ${key.name} was revoked while this approval was being signed; approve again to sign with the stage's new key`,
    );
}

/**
 * Makes the stage signature for an approved promotion request: the simple-signing payload (digest, pull
 * reference and who approved under which waivers, as cosign "optional" fields), signed with the stage's current
 * key, and the approval row holding both in state "signing", in the caller's transaction. Pushing it into the
 * registry is the next step (push-approval-signature.ts, via finish-stage-signature.ts), after the commit.
 */
export async function signApproval({ tx, actor, request, approverIds, breakGlassReason, waiverIds, comment, now, auditInto }: SignApprovalOptions) {
  // One statement: the stage's current key with what signing needs (not a choice, then a second read to sign).
  const key = await findStageSigner({ id: request.stageId, name: request.stage.name }, now, tx);
  await assertKeyStillValid(tx, key, now);
  const approvalId = randomUUID();
  const reg = request.image.repository.registry;
  const optional: Record<string, string> = {
    [OPTIONAL_KEYS.stage]: request.stage.name,
    [OPTIONAL_KEYS.requestId]: request.id,
    [OPTIONAL_KEYS.approvalId]: approvalId,
    [OPTIONAL_KEYS.approver]: actor.id,
    [OPTIONAL_KEYS.approvers]: approverIds.join(","),
    [OPTIONAL_KEYS.time]: now.toISOString(),
  };
  if (breakGlassReason !== null) {
    optional[OPTIONAL_KEYS.breakGlass] = "true";
    optional[OPTIONAL_KEYS.breakGlassReason] = breakGlassReason;
  }
  if (waiverIds.length) optional[OPTIONAL_KEYS.waivers] = waiverIds.join(",");
  const payload = buildSimpleSigningPayload({
    dockerReference: pullReference(reg.url, reg.pullName, request.image.repository.name),
    digest: request.image.digest,
    optional,
  });
  const signature = (
    await signWithSigner(key, payload, { tx, actor, auditInto, purpose: `stage ${request.stage.name} signature for ${request.image.digest}` })
  ).toString("base64");
  const layerDigest = sha256Digest(payload);
  await tx.approval.create({
    data: {
      id: approvalId,
      imageId: request.imageId,
      stageId: request.stageId,
      approverId: actor.id,
      signingKeyId: key.id,
      comment,
      status: "signing",
      payload: bytes(payload),
      signature,
      layerDigest,
      createdAt: now,
      requestId: request.id,
    },
  });
  // Not the row itself: it holds the sealed private key, which goes no further than the signature.
  return { approvalId, key: { id: key.id, name: key.name, fingerprint: key.fingerprint }, layerDigest };
}

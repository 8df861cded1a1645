import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { actorLabel, type Actor } from "../actor";
import { appendAuditEvent, recordAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { removeRevokedSignatures } from "./remove-revoked-signatures";

export const REVOCATION_SOURCES = ["manual", "key-compromise", "bulk", "regression"] as const;
export type RevocationSource = (typeof REVOCATION_SOURCES)[number];

const MIN_REASON = 3;
const MAX_REASON = 1000;

export interface RevokeApprovalOptions {
  approvalId: string;
  actor: Actor;
  /** Required: shown on the image and request pages, in the audit event and in the webhook. */
  reason: string;
  /** What caused it (default manual). Callers passing another source have authorized the actor themselves. */
  source?: RevocationSource;
  /**
   * false: record the revocation only and leave its registry removal pending (a bulk revocation then removes every
   * stage layer of an image in one `.sig` rewrite with removeRevokedSignatures). Default true.
   */
  removeNow?: boolean;
}

export interface RevocationRecord {
  approvalId: string;
  /** true when the approval was already revoked: this is the existing revocation, unchanged. */
  alreadyRevoked: boolean;
  revokedAt: string;
  revokedBy: string;
  reason: string;
  source: string;
  /** pending: the stage layer (or bundle) may still be in the registry and is retried; verify denies already. */
  state: "pending" | "removed";
  error: string | null;
  stage: string;
  digest: string;
  repository: string;
}

/**
 * Takes back one stage approval. The revocation is recorded (who, when, why) with its audit event and the
 * `approval.revoked` webhook in one transaction under the approval's row lock: from that commit verify and ImageReview
 * deny with "revoked". Then the stage's signature layer is removed from the image's `.sig` manifest (under the same
 * per-digest lock as the push; every other layer kept byte-for-byte) and its Sigstore bundle referrer deleted. A
 * registry that is down leaves the revocation "pending", retried by the scheduler tick. Revoking a revoked approval
 * answers with the existing revocation.
 */
export async function revokeApproval({ approvalId, actor, reason, source = "manual", removeNow = true }: RevokeApprovalOptions): Promise<RevocationRecord> {
  const text = typeof reason === "string" ? reason.trim() : "";
  if (text.length < MIN_REASON) throw new AppError("INVALID_INPUT", `a revocation needs a reason (at least ${MIN_REASON} characters)`, "reason");
  if (text.length > MAX_REASON) throw new AppError("INVALID_INPUT", `reason is over ${MAX_REASON} characters`, "reason");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) throw new AppError("INVALID_INPUT", "reason contains control characters", "reason");
  if (!REVOCATION_SOURCES.includes(source)) throw new AppError("INVALID_INPUT", `source must be one of ${REVOCATION_SOURCES.join(", ")}`, "source");
  if (!isUuid(approvalId)) throw new AppError("NOT_FOUND", "no such approval");

  let record: RevocationRecord;
  let imageId: string;
  try {
    if (actor.kind === "user" && actor.role !== "admin" && actor.role !== "reviewer") {
      throw new AppError("FORBIDDEN", `revoking an approval needs role reviewer (in the stage's reviewer groups) or admin; you are ${actor.role}`);
    }
    ({ record, imageId } = await db.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM approvals WHERE id = ${approvalId}::uuid FOR UPDATE`;
      if (locked.length === 0) throw new AppError("NOT_FOUND", "no such approval");
      const a = await tx.approval.findUniqueOrThrow({
        where: { id: approvalId },
        include: { image: { include: { repository: { include: { registry: true } } } }, stage: { include: { reviewerGroups: { include: { group: { select: { id: true, name: true } } } } } } },
      });
      const repository = `${a.image.repository.registry.name}/${a.image.repository.name}`;
      const shape = (alreadyRevoked: boolean, x: { revokedAt: Date; revokedBy: string; reason: string; source: string; state: string; error: string | null }): RevocationRecord => ({
        approvalId: a.id,
        alreadyRevoked,
        revokedAt: x.revokedAt.toISOString(),
        revokedBy: x.revokedBy,
        reason: x.reason,
        source: x.source,
        state: x.state === "removed" ? "removed" : "pending",
        error: x.error,
        stage: a.stage.name,
        digest: a.image.digest,
        repository,
      });
      // A reviewer may take back only what their stage's groups could have given (with no groups, any reviewer approves).
      if (actor.kind === "user" && actor.role === "reviewer") {
        const groups = a.stage.reviewerGroups.map((g) => g.group);
        const member = groups.length === 0 || (await tx.groupMember.findFirst({ where: { userId: actor.id, groupId: { in: groups.map((g) => g.id) } }, select: { groupId: true } }));
        if (!member) throw new AppError("FORBIDDEN", `stage ${a.stage.name} is reviewed by group ${groups.map((g) => g.name).join(" or ")}, and you are not a member`);
      }
      if (a.revokedAt) {
        return {
          imageId: a.imageId,
          record: shape(true, { revokedAt: a.revokedAt, revokedBy: a.revokedBy ?? "unknown", reason: a.revocationReason ?? "", source: a.revocationSource ?? "manual", state: a.revocationState ?? "pending", error: a.revocationError }),
        };
      }
      const now = new Date();
      const by = actorLabel(actor);
      await tx.approval.update({
        where: { id: a.id },
        data: { revokedAt: now, revokedBy: by, revokedById: actor.kind === "user" ? actor.id : null, revocationReason: text, revocationSource: source, revocationState: "pending", revocationError: null },
      });
      await appendAuditEvent(tx, {
        actor,
        action: "approval.revoke",
        targetDigest: a.image.digest,
        target: repository,
        detail: { approvalId: a.id, requestId: a.requestId, stage: a.stage.name, reason: text, source, layerDigest: a.layerDigest, status: a.status },
      });
      await emitEvent(tx, "approval.revoked", {
        approvalId: a.id,
        requestId: a.requestId,
        stage: a.stage.name,
        digest: a.image.digest,
        repository,
        reason: text,
        source,
        revokedBy: by,
        revokedAt: now.toISOString(),
      });
      return { imageId: a.imageId, record: shape(false, { revokedAt: now, revokedBy: by, reason: text, source, state: "pending", error: null }) };
    }));
  } catch (e) {
    if (e instanceof AppError && e.code === "FORBIDDEN") {
      await recordAuditEvent({ actor, action: "approval.revoke", outcome: "denied", detail: { approvalId, reason: e.message } });
    }
    throw e;
  }
  if (!record.alreadyRevoked) kickWebhooks();
  if (removeNow && record.state === "pending") {
    const r = await removeRevokedSignatures({ imageId, actor });
    const mine = r.approvals.find((x) => x.approvalId === approvalId);
    if (mine) {
      record.state = mine.state;
      record.error = mine.error;
    }
  }
  return record;
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import type { Actor } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { recordRevocation } from "./record-revocation";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { removeRevokedSignatures } from "./remove-revoked-signatures";

export const REVOCATION_SOURCES = ["manual", "key-compromise", "bulk", "regression", "expiry"] as const;
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

  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) throw new AppError("INVALID_INPUT", "reason contains control characters", "reason");
  if (!REVOCATION_SOURCES.includes(source)) throw new AppError("INVALID_INPUT", `source must be one of ${REVOCATION_SOURCES.join(", ")}`, "source");
  if (!isUuid(approvalId)) throw new AppError("NOT_FOUND", "no such approval");

  let record: RevocationRecord;
  let imageId: string;
  try {
    ({ record, imageId } = await db.$transaction(async (tx) => {
      return recordRevocation(tx, { approvalId, actor, reason: text, source });
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

import "server-only";
import type { Actor } from "../actor";
import { pushApprovalSignature, type PushOutcome } from "./push-approval-signature";

/**
 * After a stage signature is committed: push it into the registry's `.sig` manifest (which also marks the
 * request signed). A failure leaves it pending; the scheduler's retry, `imprimatur retry` or the next sync completes it.
 */
export async function finishStageSignature({ actor, approvalId }: { actor: Actor; approvalId: string }): Promise<PushOutcome> {
  return pushApprovalSignature({ actor, approvalId });
}

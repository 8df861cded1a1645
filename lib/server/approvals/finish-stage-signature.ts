import "server-only";
import { db } from "../../db";
import { OciError } from "../../oci/digest";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { pushApprovalSignature, type PushOutcome } from "./push-approval-signature";
import { pushStageBundle } from "./push-stage-bundle";

/**
 * After a stage signature is committed: push it into the registry's `.sig` manifest (which also marks the
 * request signed), then, for stages that emit one, the Sigstore bundle referrer. A failure leaves either pending;
 * the scheduler tick (completePendingBundles), `imprimatur retry` or the next sync completes it.
 */
export async function finishStageSignature({ actor, approvalId }: { actor: Actor; approvalId: string }): Promise<PushOutcome> {
  const pushed = await pushApprovalSignature({ actor, approvalId });
  if (pushed.status === "signed") await tryBundle(approvalId);
  return pushed;
}

async function tryBundle(approvalId: string): Promise<boolean> {
  try {
    await pushStageBundle({ approvalId });
    return true;
  } catch (e) {
    // The cosign signature is in place and is what gates rely on; the bundle is an extra format, retried later.
    if (e instanceof OciError || (e instanceof AppError && ["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR"].includes(e.code))) return false;
    throw e;
  }
}

/** Pushes the Sigstore bundles still missing for signed approvals of stages that emit them. */
export async function completePendingBundles({ limit = 20 }: { limit?: number } = {}) {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id FROM approvals a JOIN stages s ON s.id = a.stage_id
    WHERE a.status = 'signed' AND a.revoked_at IS NULL AND s.emit_bundle AND NOT EXISTS (SELECT 1 FROM stage_bundles b WHERE b.approval_id = a.id)
    ORDER BY a.created_at LIMIT ${limit}`;
  let pushed = 0;
  for (const r of rows) if (await tryBundle(r.id)) pushed++;
  return { pending: rows.length, pushed };
}

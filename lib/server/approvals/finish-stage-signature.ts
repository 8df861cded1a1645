import "server-only";
import { db } from "../../db";
import { OciError } from "../../oci/digest";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { pushApprovalSignature, type PushOutcome } from "./push-approval-signature";
import { pushStageBundle } from "./push-stage-bundle";
import { pushVerificationSummary } from "./push-verification-summary";

export interface FinishStageSignatureOptions {
  actor: Actor;
  approvalId: string;
  /**
   * Runs the accessories (Sigstore bundle referrer, verification summary) once the caller has answered, e.g. Next's
   * `after()` in a route handler. They are not part of what the answer promises (the stage signature is in the
   * registry, read back and verified), and Postgres alone says what is still missing: a signed approval without its
   * bundle or summary row is pushed by the scheduler tick (completePendingBundles / completePendingSummaries),
   * `imprimatur retry` or the next sync, so a replica that stops before running them loses nothing. Unset: awaited
   * here, before returning (the CLI, the scheduler, tests).
   */
  later?: (task: () => Promise<void>) => void | Promise<void>;
}

/**
 * After a stage signature is committed: push it into the registry's `.sig` manifest (which also marks the
 * request signed), then, for stages that emit one, the Sigstore bundle referrer, then the signed verification summary. A failure leaves either pending;
 * the scheduler tick (completePendingBundles), `imprimatur retry` or the next sync completes it.
 */
export async function finishStageSignature({ actor, approvalId, later }: FinishStageSignatureOptions): Promise<PushOutcome> {
  const pushed = await pushApprovalSignature({ actor, approvalId });
  if (pushed.status === "signed") {
    const accessories = async () => {
      await tryBundle(approvalId);
      await trySummary(approvalId);
    };
    if (!later) await accessories();
    else
      await later(() =>
        accessories().catch((e: unknown) => {
          // Nobody awaits this any more: say so, and leave it to the scheduler tick, which finds it missing.
          console.error(`[imprimatur] accessories of approval ${approvalId} left for the scheduler tick: ${(e as Error)?.message ?? String(e)}`);
        }),
      );
  }
  return pushed;
}

async function trySummary(approvalId: string): Promise<void> {
  try {
    // Left pending on a registry failure; completePendingSummaries (scheduler tick) pushes it later.
    await pushVerificationSummary({ approvalId });
  } catch (e) {
    if (e instanceof OciError || (e instanceof AppError && ["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR"].includes(e.code))) return;
    throw e;
  }
}

async function tryBundle(approvalId: string): Promise<boolean> {
  try {
    await pushStageBundle({ approvalId });
    return true;
  } catch (e) {
    // The cosign signature is in place and is what gates rely on; the bundle is an extra format, retried later.
    if (e instanceof OciError || (e instanceof AppError && ["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR", "TSA_UNAVAILABLE"].includes(e.code))) return false;
    throw e;
  }
}

/** Pushes the Sigstore bundles still missing for signed approvals of stages that emit them. */
export async function completePendingBundles({ limit = 20 }: { limit?: number } = {}) {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id FROM approvals a JOIN stages s ON s.id = a.stage_id JOIN signing_keys k ON k.id = a.signing_key_id
    WHERE a.status = 'signed' AND a.revoked_at IS NULL AND s.emit_bundle AND NOT EXISTS (SELECT 1 FROM stage_bundles b WHERE b.approval_id = a.id)
      -- A bundle is a new signature: a revoked key makes none (the approval, signed before, may well stay valid).
      AND k.revoked_at IS NULL
    -- Fewest failed attempts first, so a few bundles whose registry keeps failing cannot starve the others.
    ORDER BY a.bundle_attempts, a.created_at LIMIT ${limit}`;
  let pushed = 0;
  const failed = (id: string) => db.approval.update({ where: { id }, data: { bundleAttempts: { increment: 1 } } });
  for (const r of rows) {
    try {
      if (await tryBundle(r.id)) pushed++;
      else await failed(r.id);
    } catch (e) {
      // One bundle that cannot be made (a refusal, not an outage) must not stop the others, nor the scheduler tick.
      if (!(e instanceof AppError)) throw e;
      console.error(`[imprimatur] Sigstore bundle of approval ${r.id} not pushed: ${e.message}`);
      await failed(r.id);
    }
  }
  return { pending: rows.length, pushed };
}

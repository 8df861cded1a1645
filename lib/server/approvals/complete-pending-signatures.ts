import "server-only";
import { db } from "../../db";
import { isAppError } from "../../errors";
import { OciError } from "../../oci/digest";
import type { Actor } from "../actor";
import { finishStageSignature } from "./finish-stage-signature";

export interface CompletePendingSignaturesOptions {
  actor: Actor;
  /** Only approvals on this registry's images. */
  registryId?: string;
  limit?: number;
}

/**
 * Retries approvals left `signing` (the registry was down when they were made). Fewest failed attempts first, then
 * oldest: each failed push counts an attempt, so a few that can never be pushed (a `.sig` tag someone made an index)
 * go to the back instead of taking every slot of every tick. One that throws does not stop the rest.
 */
export async function completePendingSignatures({ actor, registryId, limit = 100 }: CompletePendingSignaturesOptions) {
  const pending = await db.approval.findMany({
    where: { status: "signing", revokedAt: null, ...(registryId ? { image: { repository: { registryId } } } : {}) },
    orderBy: [{ attempts: "asc" }, { createdAt: "asc" }],
    take: limit,
    select: { id: true },
  });
  let completed = 0;
  const failures: { approvalId: string; error: string }[] = [];
  for (const p of pending) {
    try {
      const r = await finishStageSignature({ actor, approvalId: p.id });
      if (r.status === "signed") completed++;
      else failures.push({ approvalId: p.id, error: r.error });
    } catch (e) {
      if (!isAppError(e) && !(e instanceof OciError)) throw e;
      failures.push({ approvalId: p.id, error: e.message });
      await db.approval.update({ where: { id: p.id }, data: { lastError: e.message.slice(0, 1000), attempts: { increment: 1 } } });
      console.error(`[signatures] approval ${p.id}: ${e.message}`);
    }
  }
  return { pending: pending.length, completed, failures };
}

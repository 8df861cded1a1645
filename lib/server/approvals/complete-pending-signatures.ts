import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { finishStageSignature } from "./finish-stage-signature";

export interface CompletePendingSignaturesOptions {
  actor: Actor;
  /** Only approvals on this registry's images. */
  registryId?: string;
  limit?: number;
}

/** Retries approvals left `signing` (the registry was down when they were made). Oldest first. */
export async function completePendingSignatures({ actor, registryId, limit = 100 }: CompletePendingSignaturesOptions) {
  const pending = await db.approval.findMany({
    where: { status: "signing", revokedAt: null, ...(registryId ? { image: { repository: { registryId } } } : {}) },
    orderBy: { createdAt: "asc" },
    take: limit,
    select: { id: true },
  });
  let completed = 0;
  const failures: { approvalId: string; error: string }[] = [];
  for (const p of pending) {
    const r = await finishStageSignature({ actor, approvalId: p.id });
    if (r.status === "signed") completed++;
    else failures.push({ approvalId: p.id, error: r.error });
  }
  return { pending: pending.length, completed, failures };
}

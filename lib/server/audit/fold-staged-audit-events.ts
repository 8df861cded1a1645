import "server-only";
import { auditRowHash, GENESIS_HASH } from "../../audit-chain";
import { db } from "../../db";
import { AUDIT_LOCK } from "./append-audit-event";

/**
 * Moves staged audit events into the hash chain, oldest first, in batches: one lock acquisition per batch instead of
 * one per event. Folds are serialized by the chain lock, and staged rows are deleted in the same transaction as their
 * chain rows, so each lands in the chain exactly once, from any replica; a fold that returns has seen every event
 * staged before it started. The move itself is the SQL function audit_fold_outbox (migration
 * 20261212000000_audit_outbox_fold): the app's database role may not delete from the outbox, so a staged row leaves it
 * only by being copied into audit_events, with the hashes computed here.
 */
export async function foldStagedAuditEvents({ batch = 1000, maxBatches = 50 }: { batch?: number; maxBatches?: number } = {}): Promise<number> {
  let folded = 0;
  // Most reads find nothing staged: answer that with one indexed probe instead of a transaction under the chain lock.
  // A fold in progress still has its rows in the outbox until it commits, so a reader racing it goes on and waits.
  const pending = await db.$queryRaw<{ any: boolean }[]>`SELECT EXISTS (SELECT 1 FROM audit_outbox) AS any`;
  if (!pending[0]?.any) return 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await db.$transaction(
      async (tx) => {
        // The chain lock first: a reader that folds before reading waits for a fold in progress instead of skipping
        // its rows and reading the trail without them.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_LOCK}::int, 0)`;
        // No row locks (FOR UPDATE needs UPDATE on the table, which the app's role no longer has): only a fold removes
        // staged rows, and folds hold the chain lock, so none can take these rows from under this one.
        const rows = await tx.auditOutbox.findMany({ orderBy: { id: "asc" }, take: batch });
        if (rows.length === 0) return 0;
        const last = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
        let seq = last?.seq ?? 0n;
        let prevHash = last?.hash ?? GENESIS_HASH;
        const data = rows.map((r) => {
          seq += 1n;
          const row = {
            seq,
            at: r.at,
            actorType: r.actorType,
            actorId: r.actorId,
            actorLabel: r.actorLabel,
            action: r.action,
            outcome: r.outcome,
            targetDigest: r.targetDigest,
            target: r.target,
            detail: r.detail as object,
            prevHash,
          };
          const hash = auditRowHash(row);
          prevHash = hash;
          return { ...row, hash };
        });
        // The function copies each row's content from the outbox itself (the hash here was computed over that same
        // row) and refuses the whole batch unless every id was both chained and removed.
        await tx.$executeRaw`SELECT audit_fold_outbox(${rows.map((r) => r.id.toString())}::bigint[], ${data.map((d) => d.seq.toString())}::bigint[],
          ${data.map((d) => d.prevHash)}::text[], ${data.map((d) => d.hash)}::text[])`;
        return rows.length;
      },
      { timeout: 60_000, maxWait: 30_000 },
    );
    folded += n;
    if (n < batch) break;
  }
  return folded;
}

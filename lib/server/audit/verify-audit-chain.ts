import "server-only";
import { AuditChainVerifier, type ChainCheck } from "../../audit-chain";
import { db } from "../../db";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";

export interface VerifyAuditChainOptions {
  /**
   * "genesis" (default; the CLI's `audit verify`): recompute every row. "checkpoint" (the audit page): start after the
   * last row a verification proved intact, after checking that row still holds the hash it was verified with. Rows
   * before the checkpoint are not re-read; a full verification re-checks them.
   */
  from?: "genesis" | "checkpoint";
}

/** Recomputes the chain in seq order, in pages, and names the first broken row; `checked` is how many rows were read. */
export async function verifyAuditChain({ from = "genesis" }: VerifyAuditChainOptions = {}): Promise<
  ChainCheck & { checked: number; from: "genesis" | "checkpoint" }
> {
  await foldStagedAuditEvents();
  let start: { seq: bigint; hash: string; rows: number } | undefined;
  if (from === "checkpoint") {
    const cp = await db.auditChainCheckpoint.findUnique({ where: { id: 1 } });
    if (cp) {
      const anchor = await db.auditEvent.findUnique({ where: { seq: cp.seq }, select: { hash: true } });
      if (!anchor || anchor.hash !== cp.hash) {
        return {
          ok: false,
          rows: Number(cp.rows),
          brokenSeq: cp.seq,
          reason: "the last verified row no longer holds the hash it was verified with",
          checked: 1,
          from,
        };
      }
      start = { seq: cp.seq, hash: cp.hash, rows: Number(cp.rows) };
    }
  }
  const v = new AuditChainVerifier(start);
  let after = start?.seq ?? 0n;
  let checked = 0;
  let last: { seq: bigint; hash: string } | null = null;
  for (;;) {
    const rows = await db.auditEvent.findMany({ where: { seq: { gt: after } }, orderBy: { seq: "asc" }, take: 2000 });
    if (rows.length === 0) break;
    for (const r of rows) {
      checked++;
      if (!v.push(r)) return { ...v.result(), checked, from: start ? "checkpoint" : "genesis" };
      last = { seq: r.seq, hash: r.hash };
    }
    after = rows[rows.length - 1]!.seq;
  }
  const result = v.result();
  if (result.ok && last) {
    // Only forward: a slower concurrent verification must not move the checkpoint back.
    await db.$executeRaw`
      INSERT INTO audit_chain_checkpoint (id, seq, hash, rows, verified_at) VALUES (1, ${last.seq}, ${last.hash}, ${BigInt(result.rows)}, now())
      ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, rows = EXCLUDED.rows, verified_at = EXCLUDED.verified_at
      WHERE audit_chain_checkpoint.seq < EXCLUDED.seq`;
  }
  return { ...result, checked, from: start ? "checkpoint" : "genesis" };
}

import "server-only";
import { AuditChainVerifier, type ChainCheck } from "../../audit-chain";
import { db } from "../../db";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";

/** Recomputes the whole chain in seq order, in pages, and names the first broken row. */
export async function verifyAuditChain(): Promise<ChainCheck> {
  await foldStagedAuditEvents();
  const v = new AuditChainVerifier();
  let after = 0n;
  for (;;) {
    const rows = await db.auditEvent.findMany({ where: { seq: { gt: after } }, orderBy: { seq: "asc" }, take: 2000 });
    if (rows.length === 0) break;
    for (const r of rows) if (!v.push(r)) return v.result();
    after = rows[rows.length - 1]!.seq;
  }
  return v.result();
}

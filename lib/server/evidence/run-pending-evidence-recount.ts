import "server-only";
import { db } from "../../db";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { appendAuditEvent } from "../audit/append-audit-event";
import type { Actor } from "../actor";
import { recountRegistryEvidence } from "./recount-registry-evidence";

const recounter: Actor = { kind: "system", label: "evidence-recount" };

/**
 * Runs the one-off recount of registry evidence a migration left owed (the evidence_recount_pending row: registry
 * evidence stored before not_counted existed was never judged by the uploader rules, whose globs SQL cannot match).
 * Called at start-up and by every scheduler tick: when nothing is owed it costs one primary-key read.
 *
 * Safe with any number of replicas at once: the recount takes the evidence-uploader-rules lock exclusively (as a
 * rules change does; registry ingests take it shared), then deletes the row; a replica that waited for the lock finds
 * no row and does nothing. The recount, the row's deletion and the audit event commit together: a replica that dies
 * mid-way leaves the row, and the next start-up or tick runs the whole recount again (it is idempotent: it sets each
 * document to what the current rules say).
 */
export async function runPendingEvidenceRecount(): Promise<{ ran: false } | { ran: true; recounted: number }> {
  if (!(await db.evidenceRecountPending.findFirst({ select: { id: true } }))) return { ran: false };
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.evidenceUploaderRules}::int, 0)`;
      // Read again under the lock: another replica (or a rules change, which recounts too) may have done it.
      const owed = await tx.evidenceRecountPending.findFirst({ select: { reason: true } });
      if (!owed) return { ran: false as const };
      const rules = await tx.evidenceUploaderRule.findMany({ select: { pattern: true }, orderBy: { pattern: "asc" } });
      const patterns = [...new Set(rules.map((r) => r.pattern))];
      const recounted = await recountRegistryEvidence(tx, patterns);
      await appendAuditEvent(tx, {
        actor: recounter,
        action: "evidence.recounted",
        detail: { reason: owed.reason, rules: patterns, registryDocumentsRecounted: recounted },
      });
      return { ran: true as const, recounted };
    },
    { timeout: 300_000, maxWait: 30_000 },
  );
}

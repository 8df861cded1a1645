import "server-only";
import { csvCell } from "../../report-format";
import { auditSentence } from "../../audit-catalogue";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { recordAuditEvent } from "./append-audit-event";
import { auditFilterParams, auditWhere, EXPORT_MAX_DAYS, whereSql, type AuditFilter } from "./audit-filter";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";
import { AUDIT_COLUMNS, auditView, type AuditRow } from "./list-audit-events";

export type AuditExportFormat = "csv" | "ndjson";

export interface ExportAuditEventsOptions {
  actor: Actor;
  filter: AuditFilter;
  format: AuditExportFormat;
  /** Rows per database round trip; the stream never holds more than one batch. */
  batch?: number;
  now?: Date;
}

export const CSV_COLUMNS = [
  "seq",
  "at",
  "actor_type",
  "actor_id",
  "actor",
  "action",
  "outcome",
  "target",
  "target_digest",
  "detail",
  "prev_hash",
  "hash",
  "sentence",
] as const;

/**
 * The trail for a time range (at most EXPORT_MAX_DAYS), oldest first, as CSV or NDJSON. Every row carries its
 * prev_hash and hash, so an export can be checked against the chain (and the NDJSON rows rehashed with
 * lib/audit-chain.ts). Streamed: each pull reads the next batch by seq, so memory stays flat for a year of events.
 */
export async function exportAuditEvents({ actor, filter, format, batch = 2000, now = new Date() }: ExportAuditEventsOptions) {
  requireRole(actor, ["admin", "manager"], "exporting the audit trail");
  if (!filter.from) throw new AppError("INVALID_INPUT", `from is required for an export (a range of at most ${EXPORT_MAX_DAYS} days)`, "from");
  const to = filter.to ?? now;
  if (to <= filter.from) throw new AppError("INVALID_INPUT", "to must be after from", "to");
  if (to.getTime() - filter.from.getTime() > EXPORT_MAX_DAYS * 86_400_000)
    throw new AppError("INVALID_INPUT", `the range is longer than ${EXPORT_MAX_DAYS} days; export it in parts`, "to");
  const f: AuditFilter = { ...filter, to };
  await foldStagedAuditEvents();
  // The export is itself a read worth knowing about.
  await recordAuditEvent({ actor, action: "audit.export", detail: { format, filter: Object.fromEntries(auditFilterParams(f)) } });

  const enc = new TextEncoder();
  const conds = auditWhere(f);
  let after = 0n;
  let started = false;
  let done = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (!started) {
          started = true;
          if (format === "csv") controller.enqueue(enc.encode(CSV_COLUMNS.join(",") + "\n"));
        }
        if (done) return controller.close();
        const rows = await db.$queryRaw<
          AuditRow[]
        >`SELECT ${AUDIT_COLUMNS} FROM audit_events ${whereSql([...conds, Prisma.sql`seq > ${after}`])} ORDER BY seq ASC LIMIT ${batch}`;
        if (rows.length < batch) done = true;
        if (rows.length === 0) return controller.close();
        after = rows[rows.length - 1]!.seq;
        let out = "";
        for (const r of rows) {
          const v = auditView(r);
          if (format === "ndjson") {
            out +=
              JSON.stringify({
                seq: v.seq,
                at: v.at,
                actorType: v.actorType,
                actorId: v.actorId,
                actorLabel: v.actor,
                action: v.action,
                outcome: v.outcome,
                targetDigest: v.targetDigest,
                target: v.target,
                detail: v.detail,
                prevHash: v.prevHash,
                hash: v.hash,
                sentence: auditSentence(v),
              }) + "\n";
          } else {
            out +=
              [
                v.seq,
                v.at,
                v.actorType,
                v.actorId,
                v.actor,
                v.action,
                v.outcome,
                v.target,
                v.targetDigest,
                JSON.stringify(v.detail),
                v.prevHash,
                v.hash,
                auditSentence(v),
              ]
                // Formula-looking cells get a leading apostrophe (report-format.ts); the NDJSON export carries exact
                // values, to recompute hashes from.
                .map(csvCell)
                .join(",") + "\n";
          }
        }
        controller.enqueue(enc.encode(out));
      } catch (e) {
        console.error("[audit export] failed", e);
        controller.error(new Error("audit export failed"));
      }
    },
  });
  const stamp = now.toISOString().slice(0, 10);
  return { stream, contentType: format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson", filename: `imprimatur-audit-${stamp}.${format}` };
}

import "server-only";
import type { AuditEventView } from "../../audit-catalogue";
import { db, Prisma } from "../../db";
import { requireRole, type Actor } from "../actor";
import { auditWhere, whereSql, type AuditFilter } from "./audit-filter";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";

export interface ListAuditEventsOptions {
  actor: Actor;
  filter?: AuditFilter;
  /** Return events with seq below this: the seq of the last event of the previous page (newest first). */
  cursor?: bigint;
  limit?: number;
}

export interface AuditRow {
  seq: bigint;
  at: Date;
  actor_type: string;
  actor_id: string | null;
  actor_label: string;
  action: string;
  outcome: string;
  target_digest: string | null;
  target: string | null;
  detail: unknown;
  prev_hash: string;
  hash: string;
}

export const AUDIT_COLUMNS = Prisma.sql`seq, at, actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, prev_hash, hash`;

export function auditView(r: AuditRow): AuditEventView & { actorId: string | null; prevHash: string; hash: string } {
  return {
    seq: r.seq.toString(),
    at: r.at.toISOString(),
    actorType: r.actor_type,
    actorId: r.actor_id,
    actor: r.actor_label,
    action: r.action,
    outcome: r.outcome,
    targetDigest: r.target_digest,
    target: r.target,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/** One page of the trail, newest first, with the filters; `next` is the cursor of the following page. */
export async function listAuditEvents({ actor, filter = {}, cursor, limit = 50 }: ListAuditEventsOptions) {
  requireRole(actor, ["admin", "manager"], "reading the audit trail");
  await foldStagedAuditEvents();
  const take = Math.min(Math.max(limit, 1), 500);
  const conds = auditWhere(filter);
  if (cursor) conds.push(Prisma.sql`seq < ${cursor}`);
  // One row more than the page tells whether a next page exists without a count over the whole table.
  const rows = await db.$queryRaw<AuditRow[]>`SELECT ${AUDIT_COLUMNS} FROM audit_events ${whereSql(conds)} ORDER BY seq DESC LIMIT ${take + 1}`;
  const page = rows.slice(0, take).map(auditView);
  return { events: page, next: rows.length > take ? page[page.length - 1]!.seq : null };
}

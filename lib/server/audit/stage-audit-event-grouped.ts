import "server-only";
import { pgPool } from "../../db";
import type { AuditKindName } from "../../audit-events";
import { auditEventValues, type AuditEventInput } from "./append-audit-event";

type Values = ReturnType<typeof auditEventValues>;
type Pending = { values: Values; resolve: () => void; reject: (e: unknown) => void };

/** Rows per INSERT; more wait for the next one. */
const MAX_BATCH = 200;

/**
 * The outbox INSERT, as a named prepared statement on the pool (parsed and planned once per connection): one array
 * per column, one row per index, inserted in array order (ORDER BY ord: ids follow the order the requests were
 * queued in, as Prisma's createMany gave them). `at` is the column's default, now() of the statement's transaction,
 * exactly as before. The detail travels as JSON text and is cast to jsonb by Postgres, the same text Prisma sent for a
 * Json column: the stored rows, and so the hashes the drainer (fold-staged-audit-events.ts) computes over them, are
 * unchanged. Prisma's createMany cost more CPU than the INSERT itself at admission rates (its query compiler and JSON
 * round trip of every parameter).
 */
const OUTBOX_INSERT = {
  name: "imprimatur_audit_outbox_insert",
  text: `INSERT INTO audit_outbox (actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail)
    SELECT r.actor_type, r.actor_id, r.actor_label, r.action, r.outcome, r.target_digest, r.target, r.detail::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) WITH ORDINALITY
      AS r(actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, ord)
    ORDER BY r.ord`,
};

function insertRows(rows: Values[]): Promise<unknown> {
  return pgPool().query({
    ...OUTBOX_INSERT,
    values: [
      rows.map((v) => v.actorType),
      rows.map((v) => v.actorId),
      rows.map((v) => v.actorLabel),
      rows.map((v) => v.action),
      rows.map((v) => v.outcome),
      rows.map((v) => v.targetDigest),
      rows.map((v) => v.target),
      rows.map((v) => JSON.stringify(v.detail)),
    ],
  });
}

let queue: Pending[] = [];
let flushing = false;

/**
 * stageAuditEvent with group commit, for the events written at cluster request rates (ImageReview decisions): the
 * events staged by concurrent requests of this replica while an INSERT is in flight go together in the next one.
 * Every caller's promise settles only when the INSERT holding its row has committed (or failed, and then it
 * rejects), so no decision is answered before its audit row is durable. A lone request waits for nothing: its
 * INSERT starts at once. Nothing outlives the requests waiting on it (a replica that dies takes their answers too),
 * so this holds no state shared between requests beyond the milliseconds of one INSERT.
 *
 * Each row's `at` is the time of the INSERT that carries it (now() of that statement's transaction).
 */
export function stageAuditEventGrouped<K extends AuditKindName>(e: AuditEventInput<K>): Promise<void> {
  // Invalid details throw here, in the caller, before anything is queued.
  const values = auditEventValues(e);
  return new Promise<void>((resolve, reject) => {
    queue.push({ values, resolve, reject });
    if (!flushing) void flush();
  });
}

async function flush(): Promise<void> {
  flushing = true;
  try {
    while (queue.length) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        // One statement, so one implicit transaction: all of the batch's rows or none.
        await insertRows(batch.map((p) => p.values));
        for (const p of batch) p.resolve();
      } catch {
        // One row the database refuses must not fail the requests it happened to share an INSERT with: each is
        // tried alone, and only those that fail again reject.
        await Promise.all(batch.map((p) => insertRows([p.values]).then(() => p.resolve(), p.reject)));
      }
    }
  } finally {
    flushing = false;
  }
}

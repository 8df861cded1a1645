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
export const OUTBOX_INSERT = {
  name: "imprimatur_audit_outbox_insert",
  text: outboxInsertSql(1),
};

/**
 * The outbox INSERT with its eight arrays at $first…$first+7, for OUTBOX_INSERT and for a statement that carries
 * staged rows (carryStagedAuditRows). The arrays are read through sub-selects, as the admission lookups read theirs,
 * so that custom and generic plans size them alike and a carrying statement keeps its cached generic plan.
 */
export function outboxInsertSql(first: number): string {
  const arrays = Array.from({ length: 8 }, (_, i) => `(SELECT $${first + i}::text[])`).join(", ");
  return `INSERT INTO audit_outbox (actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail)
    SELECT r.actor_type, r.actor_id, r.actor_label, r.action, r.outcome, r.target_digest, r.target, r.detail::jsonb
    FROM unnest(${arrays}) WITH ORDINALITY
      AS r(actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, ord)
    ORDER BY r.ord`;
}

/** The eight column arrays of rows, in OUTBOX_INSERT's parameter order. */
function columnsOf(rows: Values[]): (string | null)[][] {
  return [
    rows.map((v) => v.actorType),
    rows.map((v) => v.actorId),
    rows.map((v) => v.actorLabel),
    rows.map((v) => v.action),
    rows.map((v) => v.outcome),
    rows.map((v) => v.targetDigest),
    rows.map((v) => v.target),
    rows.map((v) => JSON.stringify(v.detail)),
  ];
}

function insertRows(rows: Values[]): Promise<unknown> {
  return pgPool().query({ ...OUTBOX_INSERT, values: columnsOf(rows) });
}

let queue: Pending[] = [];
let flushing = false;

/**
 * How long staged rows may wait for a statement that carries them (carryStagedAuditRows) when one is expected, before
 * they are inserted on their own. Under load this turns a review's second round trip (its own INSERT) into a part of
 * another review's lookup; the answer still waits for its committed row, at most this much longer.
 */
export const CARRY_WAIT_MS = 2;

let carrierExpected: () => boolean = () => false;
let waitTimer: ReturnType<typeof setTimeout> | null = null;

/**
 * Tells this module when a statement that carries staged rows will be sent soon: the ImageReview lookups of this
 * replica, queued or in flight (evaluate-image.ts). Only then do staged rows wait (CARRY_WAIT_MS at most); otherwise,
 * as for a lone request, the INSERT starts at once.
 */
export function expectAuditCarrier(expected: () => boolean): void {
  carrierExpected = expected;
}

/**
 * stageAuditEvent with group commit, for the events written at cluster request rates (ImageReview decisions): the
 * events staged by concurrent requests of this replica while an INSERT is in flight go together in the next one, or
 * in a review lookup that carries them (carryStagedAuditRows). Every caller's promise settles only when the statement
 * holding its row has committed (or failed, and then it rejects), so no decision is answered before its audit row is
 * durable. A lone request waits for nothing: its INSERT starts at once. Nothing outlives the requests waiting on it (a
 * replica that dies takes their answers too), so this holds no state shared between requests beyond the milliseconds
 * of one statement.
 *
 * Each row's `at` is the time of the statement that carries it (now() of that statement's transaction).
 */
export function stageAuditEventGrouped<K extends AuditKindName>(e: AuditEventInput<K>): Promise<void> {
  // Invalid details throw here, in the caller, before anything is queued.
  const values = auditEventValues(e);
  return new Promise<void>((resolve, reject) => {
    queue.push({ values, resolve, reject });
    schedule();
  });
}

/** Starts the INSERT now, or (a carrier expected) after CARRY_WAIT_MS unless a carrier took the rows first. */
function schedule(): void {
  // An INSERT in flight takes the queue when it is done (or a carrier takes it first).
  if (flushing) return;
  if (!carrierExpected()) return void flush();
  waitTimer ??= setTimeout(() => {
    waitTimer = null;
    if (!flushing && queue.length) void flush();
  }, CARRY_WAIT_MS);
}

/** Staged rows handed to a statement that inserts them (the carrier); it must call exactly one of the two. */
export interface CarriedAuditRows {
  /** OUTBOX_INSERT's eight arrays, for outboxInsertSql in the carrier's statement. */
  columns: (string | null)[][];
  /** The carrier's statement committed: its rows are stored. */
  committed(): void;
  /** The carrier's statement failed (nothing of it is stored): its rows are inserted again without it. */
  failed(): void;
}

/**
 * Takes up to MAX_BATCH staged rows for a statement about to be sent that inserts them in the same implicit
 * transaction (a data-modifying CTE: outboxInsertSql), or null when none are staged. The same rows as OUTBOX_INSERT
 * writes, in queue order; their callers' promises settle when the carrier reports its outcome.
 */
export function carryStagedAuditRows(): CarriedAuditRows | null {
  if (queue.length === 0) return null;
  const batch = queue.slice(0, MAX_BATCH);
  queue = queue.slice(batch.length);
  if (queue.length === 0 && waitTimer) {
    clearTimeout(waitTimer);
    waitTimer = null;
  }
  return {
    columns: columnsOf(batch.map((p) => p.values)),
    committed: () => batch.forEach((p) => p.resolve()),
    // The carrier's own part may be what failed: the rows go together first, then alone only if that fails too.
    failed: () =>
      void insertRows(batch.map((p) => p.values)).then(
        () => batch.forEach((p) => p.resolve()),
        () => insertApart(batch),
      ),
  };
}

/** Each row of a failed batch tried alone: one row the database refuses fails only its own caller. */
function insertApart(batch: Pending[]): Promise<unknown> {
  return Promise.all(batch.map((p) => insertRows([p.values]).then(() => p.resolve(), p.reject)));
}

async function flush(): Promise<void> {
  flushing = true;
  if (waitTimer) {
    clearTimeout(waitTimer);
    waitTimer = null;
  }
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
        await insertApart(batch);
      }
    }
  } finally {
    flushing = false;
  }
}

import "server-only";
import { db } from "../../db";
import type { AuditKindName } from "../../audit-events";
import { auditEventValues, type AuditEventInput } from "./append-audit-event";

type Pending = { values: ReturnType<typeof auditEventValues>; resolve: () => void; reject: (e: unknown) => void };

/** Rows per INSERT; more wait for the next one. */
const MAX_BATCH = 200;

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
        await db.auditOutbox.createMany({ data: batch.map((p) => p.values) });
        for (const p of batch) p.resolve();
      } catch {
        // One row the database refuses must not fail the requests it happened to share an INSERT with: each is
        // tried alone, and only those that fail again reject.
        await Promise.all(batch.map((p) => db.auditOutbox.create({ data: p.values, select: { id: true } }).then(() => p.resolve(), p.reject)));
      }
    }
  } finally {
    flushing = false;
  }
}

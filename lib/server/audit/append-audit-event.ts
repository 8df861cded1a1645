import "server-only";
import { storableText, wellFormedJson } from "../../well-formed-json";
import { auditRowHash, GENESIS_HASH } from "../../audit-chain";
import { auditDetailProblem, type AuditDetail, type AuditKindName } from "../../audit-events";
import type { Tx } from "../../db";
import { db } from "../../db";
import { actorLabel, type Actor } from "../actor";
import { ADVISORY_LOCKS } from "../advisory-locks";

interface AuditEventBase<K extends AuditKindName> {
  actor: Actor | { kind: "anonymous"; label: string };
  /** One of the kinds in lib/audit-events.ts; its detail must have that kind's shape. */
  action: K;
  outcome?: "success" | "failure" | "denied";
  targetDigest?: string | null;
  target?: string | null;
}

/** An event of kind K: the detail may be left out only for kinds whose detail is empty. */
export type AuditEventInput<K extends AuditKindName = AuditKindName> = AuditEventBase<K> &
  (Record<never, never> extends AuditDetail<K> ? { detail?: AuditDetail<K> } : { detail: AuditDetail<K> });

/**
 * A detail that does not fit its kind's schema is a bug in the writer, not bad input: it is refused before anything
 * is stored (the caller's transaction rolls back) and surfaces as an internal error, with the mismatch in the log.
 */
export class AuditDetailError extends Error {
  constructor(action: string, problem: string) {
    super(`audit event ${action}: the detail does not match its schema in lib/audit-events.ts: ${problem}`);
    this.name = "AuditDetailError";
  }
}

/** The stored values of an event, as the chain hashes them (shared with staged events). */
export function auditEventValues<K extends AuditKindName>(e: AuditEventInput<K>) {
  // Round-trip through JSON so the hash covers exactly what jsonb will hold; the schema judges that stored form. A lone
  // surrogate in a hostile string (a filename, a header) becomes U+FFFD, as text columns store it: jsonb would refuse it.
  const detail = JSON.parse(wellFormedJson(e.detail ?? {})) as object;
  const problem = auditDetailProblem(e.action, detail);
  if (problem) throw new AuditDetailError(e.action, problem);
  return {
    actorType: e.actor.kind,
    actorId: e.actor.kind === "user" ? e.actor.id : null,
    // The label too comes from outside (an identity provider's email or subject claim for a refused sign-in): hashed
    // as given while the column stored U+FFFD, a lone surrogate there made a valid row verify as altered.
    actorLabel: storableText(e.actor.kind === "anonymous" ? e.actor.label : actorLabel(e.actor)),
    action: e.action,
    outcome: e.outcome ?? "success",
    targetDigest: e.targetDigest ?? null,
    target: e.target === undefined || e.target === null ? null : storableText(e.target),
    detail,
  };
}

// The advisory lock that serializes audit appends across every replica (see lib/server/advisory-locks.ts).
export const AUDIT_LOCK = ADVISORY_LOCKS.auditChain;

/**
 * Appends one event to the hash chain inside the caller's transaction, so the event commits
 * or rolls back with the change it describes. The advisory lock makes seq gap-free and the chain linear.
 */
export async function appendAuditEvent<K extends AuditKindName>(tx: Tx, e: AuditEventInput<K>): Promise<void> {
  await insertAuditRow(tx, auditEventValues(e));
}

/**
 * The chain head each open transaction appended last. A transaction that appended once holds the chain lock until it
 * ends, so nobody else can append meanwhile and its own last row is the head: its later appends skip the lock and the
 * read (an approval writes three events in one transaction). Were the head ever wrong, the insert would fail on the
 * unique seq, never fork the chain. Keyed by the transaction client, so it goes with it.
 */
const heads = new WeakMap<Tx, { seq: bigint; hash: string }>();

async function insertAuditRow(tx: Tx, values: ReturnType<typeof auditEventValues>): Promise<void> {
  await insertAuditRows(tx, [values]);
}

/** Appends rows in order, chained to the head (read under the chain lock once per transaction), in one INSERT. */
async function insertAuditRows(tx: Tx, values: ReturnType<typeof auditEventValues>[]): Promise<void> {
  if (values.length === 0) return;
  let head = heads.get(tx);
  if (!head) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_LOCK}::int, 0)`;
    const last = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
    head = { seq: last?.seq ?? 0n, hash: last?.hash ?? GENESIS_HASH };
  }
  let { seq, hash: prevHash } = head;
  const rows = values.map((v) => {
    seq += 1n;
    const row = { seq, at: new Date(), ...v, prevHash };
    prevHash = auditRowHash(row);
    return { ...row, hash: prevHash };
  });
  if (rows.length === 1) await tx.auditEvent.create({ data: rows[0]! });
  else await tx.auditEvent.createMany({ data: rows });
  heads.set(tx, { seq, hash: prevHash });
}

/**
 * Several events of one change, appended in order in the caller's transaction with one INSERT (each detail is checked
 * first, so a bad one stores none of them).
 */
export async function appendAuditEvents(tx: Tx, events: AuditEventInput[]): Promise<void> {
  await insertAuditRows(
    tx,
    events.map((e) => auditEventValues(e)),
  );
}

/** For events that are not part of another change (sign-ins, denials, reads). The detail is checked before a connection is taken. */
export async function recordAuditEvent<K extends AuditKindName>(e: AuditEventInput<K>): Promise<void> {
  const values = auditEventValues(e);
  await db.$transaction((tx) => insertAuditRow(tx, values));
}

import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** The stored values of an audit row, exactly as they are read back from Postgres. */
export interface AuditRowValues {
  seq: bigint;
  at: Date;
  actorType: string;
  actorId: string | null;
  actorLabel: string;
  action: string;
  outcome: string;
  targetDigest: string | null;
  target: string | null;
  detail: unknown;
  prevHash: string;
}

export const GENESIS_HASH = "0".repeat(64);

/**
 * hash = SHA-256( prevHash ‖ "\n" ‖ RFC 8785 JSON of the row's stored values ).
 * bigint and Date are encoded as decimal and ISO-8601 (ms) strings, the forms they round-trip through Postgres in.
 */
export function auditRowHash(row: AuditRowValues): string {
  const doc = {
    seq: row.seq.toString(),
    at: row.at.toISOString(),
    actorType: row.actorType,
    actorId: row.actorId,
    actorLabel: row.actorLabel,
    action: row.action,
    outcome: row.outcome,
    targetDigest: row.targetDigest,
    target: row.target,
    detail: row.detail ?? null,
    prevHash: row.prevHash,
  };
  const canonical = canonicalize(doc);
  if (canonical === undefined) throw new Error("audit row cannot be canonicalized");
  return createHash("sha256").update(`${row.prevHash}\n${canonical}`).digest("hex");
}

export type ChainCheck = { ok: true; rows: number; head: string } | { ok: false; rows: number; brokenSeq: bigint; reason: string };

/** Walks rows in seq order; feed it every row, then call result(). */
export class AuditChainVerifier {
  private expectedSeq = 1n;
  private prev = GENESIS_HASH;
  private count = 0;
  private broken: { seq: bigint; reason: string } | null = null;

  /**
   * Starts at the genesis, or after a row already verified (`seq`, its `hash`, and how many rows up to it): the rows
   * after it are checked against that hash, so a view need not re-read the whole trail.
   */
  constructor(from?: { seq: bigint; hash: string; rows: number }) {
    if (from) {
      this.expectedSeq = from.seq + 1n;
      this.prev = from.hash;
      this.count = from.rows;
    }
  }

  push(row: AuditRowValues & { hash: string }): boolean {
    if (this.broken) return false;
    this.count++;
    if (row.seq !== this.expectedSeq) {
      this.broken = { seq: row.seq, reason: `sequence gap: expected ${this.expectedSeq}, found ${row.seq}` };
      return false;
    }
    if (row.prevHash !== this.prev) {
      this.broken = { seq: row.seq, reason: "prev_hash does not match the previous row's hash" };
      return false;
    }
    const h = auditRowHash(row);
    if (h !== row.hash) {
      this.broken = { seq: row.seq, reason: "stored values do not match the row's hash (row was altered)" };
      return false;
    }
    this.prev = row.hash;
    this.expectedSeq++;
    return true;
  }

  result(): ChainCheck {
    if (this.broken) return { ok: false, rows: this.count, brokenSeq: this.broken.seq, reason: this.broken.reason };
    return { ok: true, rows: this.count, head: this.prev };
  }
}

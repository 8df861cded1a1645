import "server-only";
import { auditRowHash, GENESIS_HASH } from "../../audit-chain";
import type { Tx } from "../../db";
import { db } from "../../db";
import { actorLabel, type Actor } from "../actor";
import { ADVISORY_LOCKS } from "../advisory-locks";

export interface AuditEventInput {
  actor: Actor | { kind: "anonymous"; label: string };
  action: string;
  outcome?: "success" | "failure" | "denied";
  targetDigest?: string | null;
  target?: string | null;
  detail?: Record<string, unknown>;
}

/** The stored values of an event, as the chain hashes them (shared with staged events). */
export function auditEventValues(e: AuditEventInput) {
  return {
    actorType: e.actor.kind,
    actorId: e.actor.kind === "user" ? e.actor.id : null,
    actorLabel: e.actor.kind === "anonymous" ? e.actor.label : actorLabel(e.actor),
    action: e.action,
    outcome: e.outcome ?? "success",
    targetDigest: e.targetDigest ?? null,
    target: e.target ?? null,
    // Round-trip through JSON so the hash covers exactly what jsonb will hold.
    detail: JSON.parse(JSON.stringify(e.detail ?? {})) as object,
  };
}

// The advisory lock that serializes audit appends across every replica (see lib/server/advisory-locks.ts).
export const AUDIT_LOCK = ADVISORY_LOCKS.auditChain;

/**
 * Appends one event to the hash chain inside the caller's transaction, so the event commits
 * or rolls back with the change it describes. The advisory lock makes seq gap-free and the chain linear.
 */
export async function appendAuditEvent(tx: Tx, e: AuditEventInput): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_LOCK}::int, 0)`;
  const last = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
  const row = { seq: (last?.seq ?? 0n) + 1n, at: new Date(), ...auditEventValues(e), prevHash: last?.hash ?? GENESIS_HASH };
  await tx.auditEvent.create({ data: { ...row, hash: auditRowHash(row) } });
}

/** For events that are not part of another change (sign-ins, denials, reads). */
export async function recordAuditEvent(e: AuditEventInput): Promise<void> {
  await db.$transaction((tx) => appendAuditEvent(tx, e));
}

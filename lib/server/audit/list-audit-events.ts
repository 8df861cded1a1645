import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";

export interface ListAuditEventsOptions {
  actor: Actor;
  /** Return events with seq below this (for paging backwards from the newest). */
  before?: bigint;
  limit?: number;
  action?: string;
}

export async function listAuditEvents({ actor, before, limit = 100, action }: ListAuditEventsOptions) {
  requireRole(actor, ["admin", "manager"], "reading the audit trail");
  await foldStagedAuditEvents();
  const rows = await db.auditEvent.findMany({
    where: { ...(before ? { seq: { lt: before } } : {}), ...(action ? { action: { startsWith: action } } : {}) },
    orderBy: { seq: "desc" },
    take: Math.min(Math.max(limit, 1), 500),
  });
  return rows.map((r) => ({
    seq: r.seq.toString(),
    at: r.at.toISOString(),
    actorType: r.actorType,
    actor: r.actorLabel,
    action: r.action,
    outcome: r.outcome,
    targetDigest: r.targetDigest,
    target: r.target,
    detail: r.detail,
    hash: r.hash,
  }));
}

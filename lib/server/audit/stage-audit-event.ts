import "server-only";
import { db } from "../../db";
import type { AuditKindName } from "../../audit-events";
import { auditEventValues, type AuditEventInput } from "./append-audit-event";

/**
 * Records a high-volume event (an admission decision, a denied request) with one INSERT and no lock. It joins the
 * hash chain when foldStagedAuditEvents runs (scheduler tick, and before the trail is read or verified), so a flood
 * of such events cannot queue every other audited change behind the chain's lock.
 */
export async function stageAuditEvent<K extends AuditKindName>(e: AuditEventInput<K>): Promise<void> {
  await db.auditOutbox.create({ data: auditEventValues(e) });
}

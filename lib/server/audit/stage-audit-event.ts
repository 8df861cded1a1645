import "server-only";
import { db } from "../../db";
import { actorLabel } from "../actor";
import type { AuditEventInput } from "./append-audit-event";

/**
 * Records a high-volume event (an admission decision, a denied request) with one INSERT and no lock. It joins the
 * hash chain when foldStagedAuditEvents runs (scheduler tick, and before the trail is read or verified), so a flood
 * of such events cannot queue every other audited change behind the chain's lock.
 */
export async function stageAuditEvent(e: AuditEventInput): Promise<void> {
  await db.auditOutbox.create({
    data: {
      actorType: e.actor.kind,
      actorId: e.actor.kind === "user" ? e.actor.id : null,
      actorLabel: e.actor.kind === "anonymous" ? e.actor.label : actorLabel(e.actor),
      action: e.action,
      outcome: e.outcome ?? "success",
      targetDigest: e.targetDigest ?? null,
      target: e.target ?? null,
      detail: JSON.parse(JSON.stringify(e.detail ?? {})) as object,
    },
  });
}

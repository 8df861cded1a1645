import "server-only";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { actorLabel } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { planBulkRevocation, type BulkRevocationItem, type PlanBulkRevocationOptions } from "./plan-bulk-revocation";
import { bulkRevocationItemsColumn, jsonColumn } from "../json-columns";

export interface StartBulkRevocationOptions extends PlanBulkRevocationOptions {
  reason: string;
  /** true: answer what would change, write nothing. */
  dryRun: boolean;
  /** Called after a confirmed revocation committed, to queue its job (the API route uses pg-boss). */
  enqueue?: (id: string) => Promise<void>;
  /** The approval ids the dry run showed: refused (409) when the plan made now differs. */
  expectApprovals?: readonly string[];
}

export function checkReason(reason: unknown): string {
  const text = typeof reason === "string" ? reason.trim() : "";
  if (text.length < 3) throw new AppError("INVALID_INPUT", "a revocation needs a reason (at least 3 characters)", "reason");
  if (text.length > 1000) throw new AppError("INVALID_INPUT", "reason is over 1000 characters", "reason");
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) throw new AppError("INVALID_INPUT", "reason contains control characters", "reason");
  return text;
}

/** Who is told: the requesters and approving reviewers of the approvals, per item. */
export function notified(items: readonly BulkRevocationItem[]) {
  return {
    requesters: [...new Set(items.map((i) => i.requester).filter((x): x is string => Boolean(x)))].sort(),
    reviewers: [...new Set(items.flatMap((i) => [...i.reviewers, i.approver]))].sort(),
  };
}

/**
 * A bulk revocation from a fleet search. A dry run lists every image, stage and approval that would change and
 * writes nothing. Otherwise the plan is frozen into a bulk revocation with its batch audit event and a
 * `revocation.bulk` webhook (naming the requesters and reviewers concerned) in one transaction, and queued; with
 * BULK_REVOCATION_TWO_PERSON=1 it waits for a second person to confirm it instead.
 */
export async function startBulkRevocation({ actor, query, stages, images, reason, dryRun, enqueue, expectApprovals }: StartBulkRevocationOptions) {
  const text = checkReason(reason);
  const plan = await planBulkRevocation({ actor, query, stages, ...(images ? { images } : {}) });
  const who = notified(plan.items);
  if (dryRun) return { dryRun: true as const, query, stages, reason: text, images: plan.images, approvals: plan.items.length, items: plan.items, notify: who };
  if (!plan.items.length) throw new AppError("INVALID_INPUT", "the search finds no standing approval of these stages; nothing to revoke", "query");
  // The plan is made again now: new evidence or approvals since the dry run, or a scope changed on the page after it,
  // would revoke approvals the confirmation never listed (found by review). What was shown is what may go.
  if (expectApprovals) {
    const shown = new Set(expectApprovals);
    const now = new Set(plan.items.map((i) => i.approvalId));
    const added = [...now].filter((id) => !shown.has(id)).length;
    const gone = [...shown].filter((id) => !now.has(id)).length;
    if (added || gone)
      throw new AppError(
        "CONFLICT",
        `the approvals to revoke changed since the dry run (${added} more, ${gone} no longer standing); run the dry run again and confirm what it lists`,
        "expectApprovals",
      );
  }
  const twoPerson = env().BULK_REVOCATION_TWO_PERSON;
  const row = await db.$transaction(async (tx) => {
    const r = await tx.bulkRevocation.create({
      data: {
        query,
        stages,
        reason: text,
        status: twoPerson ? "awaiting-confirmation" : "queued",
        requestedById: actor.kind === "user" ? actor.id : null,
        requestedBy: actorLabel(actor),
        confirmedBy: twoPerson ? null : actorLabel(actor),
        items: jsonColumn(bulkRevocationItemsColumn, plan.items),
        total: plan.items.length,
      },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "revocation.bulk",
      detail: {
        bulkRevocationId: r.id,
        query,
        stages,
        reason: text,
        images: plan.images,
        approvals: plan.items.length,
        approvalIds: plan.items.map((i) => i.approvalId).slice(0, 1000),
        status: r.status,
      },
    });
    await emitEvent(tx, "revocation.bulk", {
      bulkRevocationId: r.id,
      status: r.status,
      query,
      stages,
      reason: text,
      by: actorLabel(actor),
      images: plan.images,
      approvals: plan.items.length,
      ...who,
    });
    return r;
  });
  if (row.status === "queued" && enqueue) await enqueue(row.id);
  return {
    dryRun: false as const,
    id: row.id,
    status: row.status,
    query,
    stages,
    reason: text,
    images: plan.images,
    approvals: plan.items.length,
    items: plan.items,
    notify: who,
  };
}

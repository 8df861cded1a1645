import "server-only";
import { db } from "../../db";
import { isAppError } from "../../errors";
import type { Actor } from "../actor";
import { removeRevokedSignatures } from "../approvals/remove-revoked-signatures";
import { revokeApproval } from "../approvals/revoke-approval";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { bulkRevocationItemsColumn, bulkRevocationOutcomesColumn, JsonColumnError, readJson } from "../json-columns";
import type { BulkRevocationItem } from "./plan-bulk-revocation";
import { notified } from "./start-bulk-revocation";

/**
 * The person who started it, with the role they hold now (a demoted requester's job fails its items). A disabled (or
 * gone) requester's job revokes nothing: `refusal` fails every item. It used to run as the system actor, with every
 * right, so disabling someone, the stronger sanction, did less than demoting them (found by review). A job started
 * without an account (the CLI) runs as the system actor.
 */
async function requesterActor(id: string | null, label: string): Promise<{ actor: Actor; refusal: string | null }> {
  if (!id) return { actor: { kind: "system", label: `bulk-revocation (${label})` }, refusal: null };
  const u = await db.user.findUnique({ where: { id } });
  if (!u || u.disabled)
    return {
      actor: { kind: "system", label: `bulk-revocation (${label}, account ${u ? "disabled" : "gone"})` },
      refusal: `${label}, who started this bulk revocation, is ${u ? "disabled" : "no longer a user"}: nothing is revoked in their name`,
    };
  return { actor: { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "session" }, refusal: null };
}

/**
 * The confirmed items and the outcomes saved so far. Fails closed: a plan that cannot be read revokes nothing; the
 * revocation is marked failed (audited, so a retried job does not pick it up again) and the named error is thrown.
 */
async function readPlan(row: { id: string; items: unknown; outcomes: unknown; total: number; done: number; failed: number }, actor: Actor) {
  try {
    const items: BulkRevocationItem[] = readJson(bulkRevocationItemsColumn, row.items, { table: "bulk_revocations", column: "items", id: row.id });
    const outcomes = { ...readJson(bulkRevocationOutcomesColumn, row.outcomes, { table: "bulk_revocations", column: "outcomes", id: row.id }) };
    return { items, outcomes };
  } catch (e) {
    if (!(e instanceof JsonColumnError)) throw e;
    await db.$transaction(async (tx) => {
      await tx.bulkRevocation.update({ where: { id: row.id }, data: { status: "failed", finishedAt: new Date() } });
      await appendAuditEvent(tx, {
        actor,
        action: "revocation.bulk.finish",
        outcome: "failure",
        detail: { bulkRevocationId: row.id, total: row.total, done: row.done, failed: row.failed, error: e.message },
      });
    });
    throw e;
  }
}

export interface RunBulkRevocationResult {
  status: string;
  done: number;
  failed: number;
  /** Registry writes made (manifest PUTs and deletions), for the benchmark's round-trip figures. */
  registryWrites: number;
}

/**
 * Carries out a queued bulk revocation (the pg-boss job's body). Each approval is revoked through revokeApproval
 * (its own audit event and `approval.revoked` webhook), then each image's revoked layers leave its `.sig` manifest
 * in one rewrite. Progress (done, failed, each approval's outcome) is saved after every image, and an approval with
 * an outcome is not touched again: a job retried after a replica died resumes where it stopped, and revoking twice
 * answers the existing revocation anyway.
 */
export async function runBulkRevocation({ id }: { id: string }): Promise<RunBulkRevocationResult> {
  const [claimed] = await db.$queryRaw<{ id: string }[]>`
    UPDATE bulk_revocations SET status = 'running' WHERE id = ${id}::uuid AND status IN ('queued', 'running') RETURNING id`;
  const row = await db.bulkRevocation.findUniqueOrThrow({ where: { id } });
  if (!claimed) return { status: row.status, done: row.done, failed: row.failed, registryWrites: 0 };
  const { actor, refusal } = await requesterActor(row.requestedById, row.requestedBy);
  const { items, outcomes } = await readPlan(row, actor);
  const byImage = new Map<string, BulkRevocationItem[]>();
  for (const i of items) byImage.set(i.imageId, [...(byImage.get(i.imageId) ?? []), i]);
  let registryWrites = 0;
  for (const [imageId, list] of byImage) {
    const todo = list.filter((i) => outcomes[i.approvalId] === undefined);
    if (!todo.length) continue;
    const step: Record<string, string> = {};
    let revokedHere = false;
    for (const i of todo) {
      if (refusal) {
        step[i.approvalId] = `failed: ${refusal}`;
        continue;
      }
      try {
        const r = await revokeApproval({
          approvalId: i.approvalId,
          actor,
          reason: `bulk revocation ${id}: ${row.reason}`.slice(0, 1000),
          source: "bulk",
          removeNow: false,
        });
        step[i.approvalId] = r.alreadyRevoked ? "already revoked" : "revoked";
        revokedHere ||= !r.alreadyRevoked || r.state === "pending";
      } catch (e) {
        if (!isAppError(e)) throw e;
        step[i.approvalId] = `failed: ${e.message}`;
      }
    }
    if (revokedHere) {
      // One `.sig` rewrite for every stage revoked on this image; a registry that is down leaves them pending
      // (verify already denies) and the scheduler retries.
      try {
        const removal = await removeRevokedSignatures({ imageId, actor });
        registryWrites += removal.writes;
        for (const a of removal.approvals)
          if (step[a.approvalId] === "revoked" && a.state === "pending") step[a.approvalId] = `revoked; registry removal pending: ${a.error ?? "retried"}`;
      } catch (e) {
        if (!isAppError(e)) throw e;
        for (const k of Object.keys(step)) if (step[k] === "revoked") step[k] = `revoked; registry removal pending: ${e.message}`;
      }
    }
    const failed = Object.values(step).filter((s) => s.startsWith("failed")).length;
    await db.$executeRaw`
      UPDATE bulk_revocations SET outcomes = outcomes || ${JSON.stringify(step)}::jsonb, done = done + ${Object.keys(step).length - failed}, failed = failed + ${failed}
      WHERE id = ${id}::uuid`;
    Object.assign(outcomes, step);
  }
  const done = await db.$transaction(async (tx) => {
    const r = await tx.bulkRevocation.update({ where: { id }, data: { status: "done", finishedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "revocation.bulk.finish", detail: { bulkRevocationId: id, total: r.total, done: r.done, failed: r.failed } });
    await emitEvent(tx, "revocation.bulk", {
      bulkRevocationId: id,
      status: "done",
      reason: r.reason,
      total: r.total,
      done: r.done,
      failed: r.failed,
      ...notified(items),
    });
    return r;
  });
  return { status: done.status, done: done.done, failed: done.failed, registryWrites };
}

import "server-only";
import { db } from "../../db";
import { requireRole, actorLabel, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { resolveRegistry } from "../registries/resolve-registry";
import { getBoss, QUEUES } from "./boss";
import { ADVISORY_LOCKS } from "../advisory-locks";

export interface EnqueueSyncOptions {
  actor: Actor;
  registry?: string | null;
  trigger: "manual" | "schedule" | "webhook" | "cli";
  /** Only these repositories (e.g. from a webhook); empty or undefined for the whole registry. */
  repositories?: string[];
}

/**
 * Queues a sync as a background job and returns its run, which the UI polls for progress.
 * A whole-registry sync already queued or running is returned instead of starting a second one.
 */
export async function enqueueSync({ actor, registry, trigger, repositories = [] }: EnqueueSyncOptions) {
  requireRole(actor, ["admin", "reviewer", "developer", "manager"], "syncing");
  const reg = await resolveRegistry(registry);
  const scope = [...new Set(repositories)].sort();
  const run = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.syncEnqueue}::int, hashtext(${reg.id}))`;
    const active = await tx.syncRun.findFirst({
      where: { registryId: reg.id, status: { in: ["queued", "running"] }, scope: { equals: scope } },
      orderBy: { createdAt: "desc" },
    });
    if (active) return { run: active, created: false };
    const created = await tx.syncRun.create({ data: { registryId: reg.id, status: "queued", trigger, scope, requestedBy: actorLabel(actor) } });
    await appendAuditEvent(tx, { actor, action: "registry.sync.request", target: reg.name, detail: { syncRunId: created.id, trigger, scope } });
    return { run: created, created: true };
  });
  if (run.created) {
    const boss = await getBoss();
    await boss.send(QUEUES.sync, { syncRunId: run.run.id });
  }
  return run.run;
}

import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { runSync } from "../images/sync-registry";
import { getBoss, QUEUES } from "./boss";
import { enqueueSync } from "./enqueue-sync";
import { deliverWebhooks } from "../webhooks/deliver-webhooks";
import { completePendingBundles } from "../approvals/finish-stage-signature";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { scheduledAuditCheckpoint } from "../audit/make-audit-checkpoint";

const scheduler: Actor = { kind: "system", label: "scheduler" };

/**
 * Starts this process's workers: registry syncs, and a once-a-minute tick (one replica at a time) that
 * queues the registries whose sync interval has elapsed and retries signatures left pending.
 */
export async function startWorkers(): Promise<void> {
  const boss = await getBoss();
  await boss.work<{ syncRunId: string }>(QUEUES.sync, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
    if (job) await runSync({ syncRunId: job.data.syncRunId, actor: { kind: "system", label: "worker" } });
  });
  await boss.work(QUEUES.tick, { batchSize: 1, pollingIntervalSeconds: 5 }, async () => {
    await schedulerTick();
  });
  await boss.schedule(QUEUES.tick, "* * * * *");
}

export async function schedulerTick(now = new Date()): Promise<{ queued: string[]; signaturesCompleted: number; webhooksDelivered: number }> {
  const due = await db.registry.findMany({ where: { enabled: true, syncIntervalMin: { not: null } } });
  const queued: string[] = [];
  for (const r of due) {
    const last = r.lastSyncAt?.getTime() ?? 0;
    if (now.getTime() - last >= (r.syncIntervalMin ?? 0) * 60_000) {
      await enqueueSync({ actor: scheduler, registry: r.name, trigger: "schedule" });
      queued.push(r.name);
    }
  }
  const { completed } = await completePendingSignatures({ actor: scheduler, limit: 20 });
  await completePendingBundles({ limit: 20 });
  await foldStagedAuditEvents();
  // A checkpoint never holds up the tick's other work: a registry outage leaves it pending, to be retried next tick.
  await scheduledAuditCheckpoint(now).catch((e) => console.error("[scheduler] audit checkpoint failed", e));
  const hooks = await deliverWebhooks({ limit: 100 });
  return { queued, signaturesCompleted: completed, webhooksDelivered: hooks.delivered };
}

import "server-only";
import { purgeSigninThrottle } from "../auth/signin-throttle";
import { db } from "../../db";
import type { Actor } from "../actor";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { runSync } from "../images/sync-registry";
import { getBoss, QUEUES } from "./boss";
import { enqueueSync } from "./enqueue-sync";
import { deliverWebhooks } from "../webhooks/deliver-webhooks";
import { completePendingBundles } from "../approvals/finish-stage-signature";
import { completePendingSummaries } from "../approvals/push-verification-summary";
import { completePendingRevocations } from "../approvals/complete-pending-revocations";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { sweepTimeTriggers } from "../reevaluation/sweep-time-triggers";
import { fetchAdvisoryFeed, runAdvisoryFeed } from "../advisories/fetch-advisory-feed";
import { runBulkRevocation } from "../revocations/run-bulk-revocation";
import { enqueueBulkRevocation } from "../revocations/enqueue-bulk-revocation";
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
  await boss.work(QUEUES.reevaluate, { batchSize: 1, pollingIntervalSeconds: 2 }, async () => {
    await reevaluateApprovals();
    await revokeRegressedApprovals();
  });
  await boss.work<{ id: string }>(QUEUES.bulkRevocation, { batchSize: 1, pollingIntervalSeconds: 2 }, async ([job]) => {
    if (job) await runBulkRevocation({ id: job.data.id });
  });
  await boss.work(QUEUES.advisoryFeed, { batchSize: 1, pollingIntervalSeconds: 30 }, async () => {
    await runAdvisoryFeed();
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
  await completePendingSummaries({ limit: 20 });
  await completePendingRevocations({ actor: scheduler, limit: 20 });
  // Re-evaluation: time-driven triggers (expired waivers, aged scans), then whatever requests are waiting, then
  // revoke-after stages past their grace period. Each step is idempotent and shared across replicas via Postgres.
  await sweepTimeTriggers({ now });
  await reevaluateApprovals({ maxBatches: 20 });
  await revokeRegressedApprovals({ now });
  await fetchAdvisoryFeed({ now });
  // A queued bulk revocation whose job was lost (or a running one whose replica died) is queued again; pg-boss's
  // singleton key keeps it to one job, and the job resumes from its saved outcomes.
  for (const b of await db.bulkRevocation.findMany({ where: { status: { in: ["queued", "running"] } }, select: { id: true }, take: 20 }))
    await enqueueBulkRevocation(b.id);
  await foldStagedAuditEvents();
  await purgeSigninThrottle();
  // A checkpoint never holds up the tick's other work: a registry outage leaves it pending, to be retried next tick.
  await scheduledAuditCheckpoint(now).catch((e) => console.error("[scheduler] audit checkpoint failed", e));
  const hooks = await deliverWebhooks({ limit: 100 });
  return { queued, signaturesCompleted: completed, webhooksDelivered: hooks.delivered };
}

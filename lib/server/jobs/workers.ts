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
import { retireExpiredApprovals } from "../approvals/retire-expired-approvals";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { sweepTimeTriggers } from "../reevaluation/sweep-time-triggers";
import { fetchAdvisoryFeed, runAdvisoryFeed } from "../advisories/fetch-advisory-feed";
import { runBulkRevocation } from "../revocations/run-bulk-revocation";
import { enqueueBulkRevocation } from "../revocations/enqueue-bulk-revocation";
import { scheduledAuditCheckpoint } from "../audit/make-audit-checkpoint";
import { runPendingEvidenceRecount } from "../evidence/run-pending-evidence-recount";

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

/**
 * One minute's housekeeping, shared across replicas through Postgres. Each step runs even when an earlier one failed:
 * one poisoned row (a pending item some step cannot finish) must not stop pending revocations, re-evaluation, expiry,
 * the audit fold or webhooks. Failures are logged as they happen and the tick then fails naming every failed step.
 */
export async function schedulerTick(now = new Date()): Promise<{ queued: string[]; signaturesCompleted: number; webhooksDelivered: number }> {
  const failed: { step: string; error: unknown }[] = [];
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (error) {
      console.error(`[scheduler] ${name} failed`, error);
      failed.push({ step: name, error });
      return undefined;
    }
  };
  // First: a recount an upgrade left owed (registry evidence never judged by the uploader rules) changes what the
  // re-evaluation below judges. One primary-key read when nothing is owed.
  await step("pending evidence recount", runPendingEvidenceRecount);
  const queued = (await step("queue due syncs", () => queueDueSyncs(now))) ?? [];
  // Approvals past their stage's TTL are revoked, so that their signatures leave the registry (and cluster policies);
  // first, so that none of the pending pushes below (signature, bundle, summary) is for an approval already expired.
  await step("expired approvals", () => retireExpiredApprovals({ now }));
  const signatures = await step("pending signatures", () => completePendingSignatures({ actor: scheduler, limit: 20 }));
  await step("pending bundles", () => completePendingBundles({ limit: 20 }));
  await step("pending verification summaries", () => completePendingSummaries({ limit: 20 }));
  await step("pending revocations", () => completePendingRevocations({ actor: scheduler, limit: 20 }));
  // Re-evaluation: time-driven triggers (expired waivers, aged scans), then whatever requests are waiting, then
  // revoke-after stages past their grace period. Each step is idempotent and shared across replicas via Postgres.
  await step("time triggers", () => sweepTimeTriggers({ now }));
  await step("re-evaluation", () => reevaluateApprovals({ maxBatches: 20 }));
  await step("revoke-after", () => revokeRegressedApprovals({ now }));
  await step("advisory feed", () => fetchAdvisoryFeed({ now }));
  // A queued bulk revocation whose job was lost (or a running one whose replica died) is queued again; pg-boss's
  // singleton key keeps it to one job, and the job resumes from its saved outcomes.
  await step("bulk revocations", requeueBulkRevocations);
  await step("audit fold", foldStagedAuditEvents);
  await step("sign-in throttle purge", purgeSigninThrottle);
  // A checkpoint never holds up the tick's other work: a registry outage leaves it pending, to be retried next tick.
  await scheduledAuditCheckpoint(now).catch((e) => console.error("[scheduler] audit checkpoint failed", e));
  const hooks = await step("webhooks", () => deliverWebhooks({ limit: 100 }));
  if (failed.length) {
    throw new AggregateError(
      failed.map((f) => f.error),
      `scheduler tick: ${failed.length} step(s) failed (${failed.map((f) => f.step).join(", ")}); the others ran`,
    );
  }
  return { queued, signaturesCompleted: signatures?.completed ?? 0, webhooksDelivered: hooks?.delivered ?? 0 };
}

async function queueDueSyncs(now: Date): Promise<string[]> {
  const due = await db.registry.findMany({ where: { enabled: true, syncIntervalMin: { not: null } } });
  const queued: string[] = [];
  for (const r of due) {
    const last = r.lastSyncAt?.getTime() ?? 0;
    if (now.getTime() - last >= (r.syncIntervalMin ?? 0) * 60_000) {
      await enqueueSync({ actor: scheduler, registry: r.name, trigger: "schedule" });
      queued.push(r.name);
    }
  }
  return queued;
}

async function requeueBulkRevocations(): Promise<void> {
  for (const b of await db.bulkRevocation.findMany({ where: { status: { in: ["queued", "running"] } }, select: { id: true }, take: 20 }))
    await enqueueBulkRevocation(b.id);
}

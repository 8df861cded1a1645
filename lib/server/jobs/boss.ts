import "server-only";
import PgBoss from "pg-boss";
import { env } from "../../env";

// pg-boss keeps jobs, schedules and their locks in Postgres (schema "pgboss"), so any number of replicas
// can run workers: each job is handed to exactly one of them.
export const QUEUES = {
  sync: "registry-sync",
  tick: "scheduler-tick",
  reevaluate: "reevaluate-approvals",
  bulkRevocation: "bulk-revocation",
  advisoryFeed: "advisory-feed",
} as const;

const g = globalThis as unknown as { __imprimaturBoss?: Promise<PgBoss> };

export function getBoss(): Promise<PgBoss> {
  g.__imprimaturBoss ??= (async () => {
    const boss = new PgBoss({ connectionString: env().DATABASE_URL, schema: "pgboss", max: 4, application_name: "imprimatur-jobs" });
    boss.on("error", (e) => console.error("[jobs]", e.message));
    await boss.start();
    // A sync that crashed its worker is retried; one that runs over an hour is abandoned and retried.
    await boss.createQueue(QUEUES.sync, { name: QUEUES.sync, retryLimit: 2, retryDelay: 30, retryBackoff: true, expireInSeconds: 3600 });
    await boss.createQueue(QUEUES.tick, { name: QUEUES.tick, policy: "singleton", expireInSeconds: 300 });
    // Both work from rows in Postgres in small transactions, so a retried job resumes where a dead one stopped.
    await boss.createQueue(QUEUES.reevaluate, { name: QUEUES.reevaluate, policy: "singleton", retryLimit: 5, retryDelay: 10, expireInSeconds: 1800 });
    await boss.createQueue(QUEUES.advisoryFeed, { name: QUEUES.advisoryFeed, retryLimit: 3, retryDelay: 300, retryBackoff: true, expireInSeconds: 3600 });
    await boss.createQueue(QUEUES.bulkRevocation, { name: QUEUES.bulkRevocation, retryLimit: 5, retryDelay: 10, expireInSeconds: 3600 });
    return boss;
  })().catch((e) => {
    g.__imprimaturBoss = undefined;
    throw e;
  });
  return g.__imprimaturBoss;
}

export async function stopBoss(): Promise<void> {
  const b = g.__imprimaturBoss;
  g.__imprimaturBoss = undefined;
  if (b) await (await b).stop({ graceful: true, wait: true, timeout: 10_000 });
}

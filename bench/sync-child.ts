// One registry sync in its own process, so its peak RSS is the sync's own (not the benchmark's registry
// fill or baseline). Run by bench/registry-sync.ts as
//   node --conditions=react-server --import tsx bench/sync-child.ts
// with DATABASE_URL, REGISTRY_URL, IMPRIMATUR_MASTER_KEY and IMPRIMATUR_WORKERS=0 set. Prints one line:
//   BENCH_SYNC_RESULT {"result": SyncResult, "wallMs", "peakRssBytes", "rssBeforeBytes", "requests", "queries"}
//
// Warm database client, cold registry connections. In production a sync runs in the long-lived server process
// (the job worker), whose Prisma client has long started: its query compiler is loaded and its pool has a
// connection. A fresh child pays that start once (about a second, most of it loading Prisma's query compiler),
// which the server never pays per sync, so one trivial query runs before the timed section and is not counted.
// The registry side is NOT warmed: the sync opens its registry connections inside the timed section, as the
// plain client it is compared with does.
import { performance } from "node:perf_hooks";
import { countQueries, queriesSince } from "./lib/query-counter";
import { RequestCounter } from "./lib/request-counter";
import { peakRssBytes } from "./lib/util";
import { SYNC_RESULT_MARKER, type SyncChildOutput } from "./lib/sync-protocol";

async function main(): Promise<void> {
  const registryUrl = process.env.REGISTRY_URL;
  if (!registryUrl || !process.env.DATABASE_URL) throw new Error("sync-child needs DATABASE_URL and REGISTRY_URL");
  const counter = new RequestCounter(new URL(registryUrl).origin).start();
  // Before lib/db loads, so every connection of its pool is counted.
  const queries = countQueries();
  const { syncRegistry } = await import("../lib/server/images/sync-registry");
  const { db, disconnectDb } = await import("../lib/db");
  try {
    await db.$queryRaw`SELECT 1`;
    const warmup = queries();
    const rssBeforeBytes = process.memoryUsage().rss;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const result = await syncRegistry({ actor: { kind: "system", label: "bench" } });
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    counter.stop();
    const out: SyncChildOutput = {
      result,
      wallMs,
      peakRssBytes: peakRssBytes(),
      rssBeforeBytes,
      cpuMs: (cpu.user + cpu.system) / 1000,
      requests: counter.snapshot(),
      connections: counter.connectionsOpened,
      queries: queriesSince(queries(), warmup),
    };
    await new Promise<void>((resolve, reject) => process.stdout.write(SYNC_RESULT_MARKER + JSON.stringify(out) + "\n", (e) => (e ? reject(e) : resolve())));
  } finally {
    await disconnectDb().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error("[sync-child]", e);
    process.exit(1);
  },
);

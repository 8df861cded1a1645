// What the database backends wait on while ImageReview and verify run under load, with one replica and with two on
// one Postgres (issue 17: "why is two-replica ImageReview so poor?"). Same stack and state as bench/admission-cpu.ts;
// each phase runs open-loop at RATE/s in total (split evenly over the replicas) for 2 s of warm-up and 8 s measured,
// while pg_stat_activity (active client backends: wait event and statement) and the count of ungranted locks in
// pg_locks are sampled every few milliseconds. Prints the p99 per replica and the average number of backends in each
// state; writes nothing.
//
//   BENCH_APP_DIR=$PWD RATE=200 npx tsx bench/admission-waits.ts
import pg from "pg";
import { startAppStack } from "./admission";
import { prepareAbRoutes } from "./lib/admission-ab";
import { runOpenLoop } from "./lib/load";
const log = (s: string) => process.stderr.write(`[waits] ${s}\n`);
const RATE = Number(process.env.RATE ?? 200);
const stack = await startAppStack(log);
try {
  const make = await prepareAbRoutes(stack);
  const second = await stack.startReplica();
  const c = new pg.Client({ connectionString: stack.databaseUrl });
  await c.connect();
  for (const [label, origins, route] of [
    ["1 replica", [stack.origin], "imagereview"],
    ["2 replicas", [stack.origin, second.origin], "imagereview"],
    ["2 replicas", [stack.origin, second.origin], "verify"],
    ["1 replica", [stack.origin], "verify"],
  ] as const) {
    const hist = new Map<string, number>();
    let samples = 0,
      stop = false,
      notGranted = 0;
    const sampler = (async () => {
      while (!stop) {
        const { rows } = await c.query(
          `SELECT state, coalesce(wait_event_type,'-') AS t, coalesce(wait_event,'-') AS e, left(query, 40) AS q FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND datname = current_database()`,
        );
        const l = await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`);
        notGranted += l.rows[0].n;
        samples++;
        for (const r of rows)
          if (r.state === "active") {
            const k = `${r.t}/${r.e} ${r.q.replace(/\s+/g, " ").slice(0, 30)}`;
            hist.set(k, (hist.get(k) ?? 0) + 1);
          }
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    const results = await Promise.all(
      origins.map((origin) =>
        runOpenLoop({
          origin,
          rate: RATE / origins.length,
          warmupS: 2,
          durationS: 8,
          connections: 32,
          timeoutMs: 10_000,
          request: make[route as "imagereview"],
        }),
      ),
    );
    stop = true;
    await sampler;
    log(
      `${route} ${label} at ${RATE}/s: p99 ${results.map((r) => r.latencyMs.p99.toFixed(1)).join(", ")} ms; ${samples} samples, ungranted locks ${notGranted}`,
    );
    for (const [k, v] of [...hist].sort((a, b) => b[1] - a[1]).slice(0, 8)) log(`   ${(v / samples).toFixed(3)} active backends avg: ${k}`);
  }
  await c.end();
} finally {
  await stack.stop();
}

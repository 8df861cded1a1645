// Where admission's p99 stalls come from (issue 17): the verify and ImageReview routes at a few fixed rates (7 s each,
// 11 s apart, as the max-rate search's steps), and for each step the p99 and max, the Postgres sessions opened (a new
// connection is a new backend whose prepared statements are planned again), the server's minor page faults, the load
// generator's own event-loop lag, and any statement or autovacuum active for more than 40 ms (pg_stat_activity sampled
// every 10 ms). Prints; writes nothing.
//
//   ROUTES=verify,imagereview npx tsx bench/admission-stalls.ts
//   BENCH_SERVER_NODE_FLAGS=--trace-gc ...      the server's garbage collections in the log too
import pg from "pg";
import { startAppStack } from "./admission";
import { prepareAbRoutes } from "./lib/admission-ab";
import { runOpenLoop } from "./lib/load";
const log = (s: string) => process.stderr.write(`[churn] ${s}\n`);
const stack = await startAppStack(log);
const c = new pg.Client({ connectionString: stack.databaseUrl });
await c.connect();
const sessions = async () => Number((await c.query("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")).rows[0].sessions);
const backends = async () =>
  Number((await c.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'")).rows[0].count);
try {
  const make = await prepareAbRoutes(stack);
  for (const route of (process.env.ROUTES ?? "verify,imagereview").split(",") as ("verify" | "imagereview")[]) {
    for (const rate of [150, 300, 450, 600, 450, 300]) {
      const s0 = await sessions();
      const { readFileSync } = await import("node:fs");
      const flt = () => Number(readFileSync(`/proc/${stack.serverPid}/stat`, "utf8").split(") ")[1]!.split(" ")[7]);
      const f0 = flt();
      const slow: string[] = [];
      let sampling = true;
      const sampler = (async () => {
        const sc = new pg.Client({ connectionString: stack.databaseUrl });
        await sc.connect();
        while (sampling) {
          const { rows } = await sc.query(
            "SELECT pid, wait_event_type, wait_event, state, extract(epoch from clock_timestamp() - query_start) * 1000 AS ms, left(query, 40) AS q FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND clock_timestamp() - query_start > interval '40 ms'",
          );
          for (const x of rows)
            slow.push(`${new Date().toISOString().slice(17, 23)} pid ${x.pid} ${x.wait_event_type}/${x.wait_event} ${Math.round(x.ms)} ms ${x.q}`);
          await new Promise((res) => setTimeout(res, 10));
        }
        await sc.end();
      })();
      const lag: number[] = [];
      let last = performance.now();
      const lagTimer = setInterval(() => {
        const now = performance.now();
        lag.push(now - last - 10);
        last = now;
      }, 10);
      const r = await runOpenLoop({ origin: stack.origin, rate, warmupS: 1, durationS: 6, connections: 64, timeoutMs: 10_000, request: make[route] });
      sampling = false;
      clearInterval(lagTimer);
      await sampler;
      log(`  server minor faults ${flt() - f0}`);
      log(`  generator loop lag max ${Math.max(...lag).toFixed(0)} ms; sendLag max ${r.sendLagMs.max.toFixed(1)}; slow statements: ${slow.length}`);
      for (const x of slow.slice(0, 8)) log(`    ${x}`);
      await new Promise((res) => setTimeout(res, 11_000)); // stats flush
      log(
        `${route} ${rate}/s: p99 ${r.latencyMs.p99.toFixed(1)} ms, max ${r.latencyMs.max.toFixed(1)}; new sessions ${(await sessions()) - s0 - 0}, backends now ${await backends()}`,
      );
    }
  }
} finally {
  await c.end();
  await stack.stop();
}

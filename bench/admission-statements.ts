// Which statements the admission routes cost Postgres under load (issue 17): runs each route open-loop at RATE/s
// for D s with pg_stat_statements loaded, then prints the statements by total execution time, per request.
//
//   RATE=300 D=10 ROUTES=verify,imagereview npx tsx bench/admission-statements.ts
//
// pg_stat_statements counts execution (and planning, when tracked) inside the backend, not the protocol work around
// it (parse, bind, commit, WAL flush), so the per-request sum is below the postmaster's CPU; it shows the split.
import pg from "pg";
import { startAppStack } from "./admission";
import { prepareAbRoutes } from "./lib/admission-ab";
import { runOpenLoop } from "./lib/load";

process.env.IMPRIMATUR_PG_STAT_STATEMENTS = "1";
const log = (s: string) => process.stderr.write(`[statements] ${s}\n`);
const RATE = Number(process.env.RATE ?? 300);
const D = Number(process.env.D ?? 10);
const ROUTES = (process.env.ROUTES ?? "verify,imagereview").split(",");
const stack = await startAppStack(log);
const c = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await c.connect();
  await c.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
  const make = await prepareAbRoutes(stack);
  for (const name of ROUTES) {
    const request = make[name as keyof typeof make];
    // Warm-up (JIT, connections, plan caches), not counted.
    await runOpenLoop({ origin: stack.origin, rate: RATE, warmupS: 0, durationS: 3, connections: 64, timeoutMs: 10_000, request });
    await new Promise((r) => setTimeout(r, 2000));
    await c.query("SELECT pg_stat_statements_reset()");
    const r = await runOpenLoop({ origin: stack.origin, rate: RATE, warmupS: 0, durationS: D, connections: 64, timeoutMs: 10_000, request });
    // Let the scheduler's next tick fold the staged audit rows (the fold is part of what a request costs).
    await new Promise((res) => setTimeout(res, Number(process.env.SETTLE_MS ?? 65_000)));
    const { rows } = await c.query<{ query: string; calls: string; total: number; rows: string }>(
      `SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 140) AS query, calls, total_exec_time + total_plan_time AS total, rows
       FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
       ORDER BY total DESC LIMIT 25`,
    );
    const sum = rows.reduce((s, x) => s + Number(x.total), 0);
    log(
      `${name}: ${r.requests} requests at ${r.achievedRps.toFixed(0)}/s, p99 ${r.latencyMs.p99.toFixed(1)} ms; statements ${(sum / r.requests).toFixed(3)} ms per request`,
    );
    for (const x of rows)
      log(
        `  ${((Number(x.total) / r.requests) * 1000).toFixed(1).padStart(7)} µs/req  ${String(x.calls).padStart(6)} calls ${String(x.rows).padStart(7)} rows  ${x.query}`,
      );
  }
} finally {
  await c.end().catch(() => {});
  await stack.stop();
}

// CPU per request of the admission routes *under load*, for one build: the figure that bounds the max rate (a
// replica's Node process is one thread; what it spends per request at a steady rate decides how many it can
// answer). Complements bench/admission-cpu.ts, which measures one request at a time.
//
//   BENCH_APP_DIR=/work/main RATE=300 D=8 npx tsx bench/admission-load-cpu.ts
//   BENCH_CPU_PROF_DIR=/tmp/prof ...    also writes the server's CPU profile; the log gives each phase's
//                                       window on the monotonic clock (the profile's own time base) to slice it
//   XACTS=1 ...                         then the transactions per request of each route at RATE/s (one more D-second
//                                       run each, no warm-up, pg_stat_database read 11 s after it: statements under load)
//
// Same stack and state as bench/admission-cpu.ts (two unapproved images, namespace ab requires stage build). Each
// route runs open-loop at RATE/s for 2 s of warm-up and D s measured, in ROUNDS interleaved rounds (after WARM_ROUNDS
// uncounted ones); the CPU of the server's and the postmaster's process trees over the measured windows is divided
// by the requests answered.
import pg from "pg";
import { startAppStack } from "./admission";
import { prepareAbRoutes } from "./lib/admission-ab";
import { runOpenLoop, type LoadRequest } from "./lib/load";

const log = (s: string) => process.stderr.write(`[load-cpu] ${s}\n`);
const RATE = Number(process.env.RATE ?? 300);
const D = Number(process.env.D ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
/** Rounds run first and not counted (JIT, connections, plan caches). */
const WARM_ROUNDS = Number(process.env.WARM_ROUNDS ?? 1);
const ROUTES = (process.env.ROUTES ?? "baseline,verify,imagereview").split(",");
const stack = await startAppStack(log);
try {
  const make: Record<string, (i: number) => LoadRequest> = { ...(await prepareAbRoutes(stack)) };
  const cpuOf = { server: stack.serverPid, ...(stack.postgresPid ? { postgres: stack.postgresPid } : {}) };
  const sum: Record<string, { server: number; pg: number; n: number; p99: number[] }> = {};
  for (let round = -WARM_ROUNDS; round < ROUNDS; round++)
    for (const name of ROUTES) {
      const t0 = process.hrtime.bigint() / 1000n;
      const r = await runOpenLoop({
        origin: stack.origin,
        rate: RATE,
        warmupS: 2,
        durationS: D,
        connections: 64,
        timeoutMs: 10_000,
        request: make[name]!,
        cpuOf,
      });
      const t1 = process.hrtime.bigint() / 1000n;
      if (r.errors) throw new Error(`${name}: ${r.errors} errors`);
      log(`${name} round ${round}: monotonic µs ${t0}..${t1}, ${r.achievedRps.toFixed(0)}/s, p99 ${r.latencyMs.p99.toFixed(1)} ms`);
      if (round < 0) continue;
      const e = (sum[name] ??= { server: 0, pg: 0, n: 0, p99: [] });
      e.server += (r.cores.server ?? NaN) * D * 1000;
      e.pg += (r.cores.postgres ?? NaN) * D * 1000;
      e.n += r.achievedRps * D;
      e.p99.push(r.latencyMs.p99);
    }
  if (process.env.XACTS === "1") await transactionsPerRequest(stack.databaseUrl, stack.origin, make);
  for (const [k, v] of Object.entries(sum))
    log(
      `${k}: server ${(v.server / v.n).toFixed(3)} ms + postgres ${(v.pg / v.n).toFixed(3)} ms CPU per request at ${RATE}/s (p99 ${v.p99.map((x) => x.toFixed(1)).join(", ")} ms)`,
    );
} finally {
  await stack.stop();
}

/** Committed transactions per request of each route at RATE/s (pg_stat_database is flushed by idle backends every 10 s). */
async function transactionsPerRequest(databaseUrl: string, origin: string, make: Record<string, (i: number) => LoadRequest>): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const xacts = async () => {
      await new Promise((r) => setTimeout(r, 11_000));
      return Number((await c.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).rows[0].xact_commit);
    };
    for (const name of ROUTES) {
      const x0 = await xacts();
      const r = await runOpenLoop({ origin, rate: RATE, warmupS: 0, durationS: D, connections: 64, timeoutMs: 10_000, request: make[name]! });
      // Our own read is one transaction.
      const n = (await xacts()) - x0 - 1;
      log(
        `${name}: ${(n / r.requests).toFixed(2)} transactions per request at ${RATE}/s (${r.requests} requests, ${r.achievedRps.toFixed(0)}/s, p99 ${r.latencyMs.p99.toFixed(1)} ms)`,
      );
    }
  } finally {
    await c.end();
  }
}

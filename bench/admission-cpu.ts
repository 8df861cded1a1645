// CPU per request of the admission routes, one request at a time, for one build: a steadier figure than the
// max-rate search on a shared machine (issue 17). Run it against two builds one after the other and compare each
// route with the baseline route of the same run:
//
//   BENCH_APP_DIR=/tmp/before npx tsx bench/admission-cpu.ts     # e.g. `git archive <commit>`, node_modules, a build
//   BENCH_APP_DIR=$PWD N=300 npx tsx bench/admission-cpu.ts
//   CONCURRENCY=8 ...     C clients, each one request at a time (closed loop): the CPU and statements per request
//                         when requests overlap (grouped lookups, audit rows carried), at whatever rate the machine
//                         gives, which an open-loop rate cannot promise on a busy host
//
// Starts the stack as bench/admission.ts does (embedded Postgres, a registry, `next start`), pushes and syncs two
// images (neither approved, so the decision is computed by stage_decision(), the heavier path), requires stage build in
// namespace ab, then runs the baseline route, verify (two digests and a tag, round robin) and a 3-container ImageReview,
// N requests each, in three interleaved rounds, reading the CPU of the server's and the postmaster's process trees
// around each; then the statements per request from pg_stat_database. Prints the figures; writes nothing.
import pg from "pg";
import { startAppStack } from "./admission";
import { prepareAbRoutes } from "./lib/admission-ab";
import { processTreeCpuMs, runSequential, type LoadRequest } from "./lib/load";
const log = (s: string) => process.stderr.write(`[ab] ${s}\n`);
const N = Number(process.env.N ?? 400);
const C = Number(process.env.CONCURRENCY ?? 1);
/** n requests from C clients, each sending its next request when its previous one is answered. */
async function run(origin: string, n: number, request: (i: number) => LoadRequest): Promise<{ errors: number }> {
  const parts = await Promise.all(Array.from({ length: C }, (_, k) => runSequential({ origin, n: Math.ceil(n / C), request: (i) => request(i * C + k) })));
  return { errors: parts.reduce((e, p) => e + p.errors, 0) };
}
const stack = await startAppStack(log);
const pgc = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await pgc.connect();
  const { baseline: base, verify, imagereview: review } = await prepareAbRoutes(stack);
  const xacts = async () => Number((await pgc.query("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")).rows[0].xact_commit);
  for (const [, make] of [
    ["w", verify],
    ["w", review],
    ["w", base],
  ] as const)
    await run(stack.origin, 50, make);
  const sum: Record<string, { server: number; pg: number; n: number; ms: number }> = {};
  for (let round = 0; round < 3; round++)
    for (const [name, make] of [
      ["baseline", base],
      ["verify", verify],
      ["imagereview(3)", review],
    ] as const) {
      const s0 = processTreeCpuMs(stack.serverPid)!,
        p0 = processTreeCpuMs(stack.postgresPid!)!;
      const t0 = performance.now(),
        h0 = process.hrtime.bigint() / 1000n;
      const r = await run(stack.origin, N, make);
      const t1 = performance.now();
      // The window on the monotonic clock, the time base of the server's CPU profile (BENCH_CPU_PROF_DIR).
      if (process.env.BENCH_CPU_PROF_DIR) log(`${name} round ${round}: monotonic µs ${h0}..${process.hrtime.bigint() / 1000n}`);
      const s1 = processTreeCpuMs(stack.serverPid)!,
        p1 = processTreeCpuMs(stack.postgresPid!)!;
      if (r.errors) throw new Error(`${name}: ${r.errors} errors`);
      const e = (sum[name] ??= { server: 0, pg: 0, n: 0, ms: 0 });
      e.ms += t1 - t0;
      e.server += s1 - s0;
      e.pg += p1 - p0;
      e.n += Math.ceil(N / C) * C;
    }
  await new Promise((r) => setTimeout(r, 11_000));
  // pg_stat_database is flushed by idle backends at most every 10 s; our own query is one transaction (the -1s).
  const x0 = await xacts();
  await run(stack.origin, 200, verify);
  await new Promise((r) => setTimeout(r, 11_000));
  const x1 = await xacts();
  await run(stack.origin, 200, review);
  await new Promise((r) => setTimeout(r, 11_000));
  const x2 = await xacts();
  for (const [k, v] of Object.entries(sum))
    log(
      `${k}: server ${(v.server / v.n).toFixed(2)} ms + postgres ${(v.pg / v.n).toFixed(2)} ms CPU per request (${v.n} requests, ${((1000 * v.n) / v.ms).toFixed(0)}/s)`,
    );
  const m = Math.ceil(200 / C) * C;
  log(`statements per request (${C} at a time): verify ${((x1 - x0 - 1) / m).toFixed(2)}, imagereview ${((x2 - x1 - 1) / m).toFixed(2)}`);
} finally {
  await pgc.end().catch(() => {});
  await stack.stop();
}

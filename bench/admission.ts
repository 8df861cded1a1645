// Benchmark: the verify API and the Kubernetes ImageReview webhook under a fixed arrival rate, against the
// production server (`next build` output run with `next start`) on loopback.
//
//   npm run bench -- admission
//   BENCH_SCALE=0.25 npm run bench -- admission        # shorter measured windows (20 s × scale, at least 3 s)
//   BENCH_APP_DIR=/tmp/snapshot npm run bench -- admission
//       serve, migrate and seed from another checkout (e.g. `git archive HEAD` with node_modules and a build)
//       when the working tree is mid-change and does not build; the bench code itself runs from here.
//
//   1. start  embedded Postgres and a docker-registry, migrate and seed the demo with the CLI, `next start`
//             (built first with `next build` when .next lacks the routes measured, and said so);
//   2. state  push two images, sync; dev requests promotion of one to stage build, carol approves (signed);
//             namespace "bench" requires stage build;
//   3. alone  each endpoint 300 times one request at a time: the latency without queueing;
//   4. load   an open-loop generator (bench/lib/load.ts) sends 500 requests/s for 3 s of warm-up then 20 s
//             measured, to: a baseline route of the same server, GET /api/v1/verify, POST /api/v1/imagereview.
//             The verify and ImageReview requests mix an approved digest, an unapproved digest and a tag.
//             Latency runs from each request's due time, so queueing is not hidden (coordinated omission).
//             What is unanswered 10 s after the last due time counts as an error;
//   5. DB     transactions and rows written per request, from pg_stat_database deltas around step 3; also the rows
//             inserted into the app's own tables and the autovacuum / autoanalyze runs that landed in the window
//             (their transactions and pg_statistic rows count in pg_stat_database: background work, not requests').
//   6. max    the highest rate each endpoint holds with p99 < 50 ms (steps of at least 4 s, a failing step run again
//             before it counts), the baseline searched again if an app rate came out above it; then verify's p99 at
//             the baseline's "at load" rate: 80 % of its highest, lowered by a fifth (up to 3 times) while the
//             baseline itself does not hold p99 < 50 ms over the longer window. The rate is the baseline's choice
//             and both sides run at it, so neither is measured saturated while the other is not;
//   7. two replicas: step 6's search with the rate split over two `next start` on one Postgres (BENCH_REPLICAS=1
//             skips it).
//
// A benchmark, not a test: it prints p50/p95/p99/max, the rate achieved, errors, and p99 over the baseline's
// p99; the goal (p99 ≤ 20 ms at 500/s) is reported as met or not, never enforced. It fails only when an
// answer is wrong (an approved digest denied …), since the figures would then mean nothing.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { RegistryClient } from "../lib/oci/client";
import { buildImage, pushImage } from "../scripts/lib/oci-build";
import { freePort, startPostgres, startRegistry, type PostgresHandle, type RegistryHandle } from "../scripts/lib/services.mjs";
import { processTreeCpuMs, runOpenLoop, runSequential, type LoadRequest, type LoadResult, type Percentiles } from "./lib/load";
import type { BenchmarkReport } from "./lib/report";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const RATE = 500;
const WARMUP_S = 3;
const FULL_DURATION_S = 20;
const CONNECTIONS = 64;
const TIMEOUT_MS = 10_000;
const GOAL_P99_MS = 20;
const STAGE = "build";
const NAMESPACE = "bench";
const REPOSITORY = "bench/admission-app";
/**
 * The baseline: next-auth's GET /api/auth/providers, an App Router route handler of the same server that
 * answers a constant JSON list with no database and no session. It goes through the same HTTP server, router,
 * proxy matcher and route-handler machinery as /api/v1/verify, and nothing else. (A 401 from /api/v1/verify
 * without a token is not trivial: it appends an audit event, a serialized database write. /signin renders a
 * React page.)
 */
const BASELINE_PATH = "/api/auth/providers";
/** pg_stat_database is flushed by idle backends at most every 10 s; wait that long before reading it. */
const STATS_FLUSH_MS = 11_000;
/** Pause between load phases. */
const SETTLE_MS = 5_000;
/** Requests sent one at a time per endpoint before the load, for the latency without queueing. */
const SEQUENTIAL_N = 300;
/** Built routes the benchmarks need; without them the build is older than the API and is rebuilt. */
const NEEDED_ROUTES = ["api/v1/verify/route.js", "api/v1/imagereview/route.js", "api/v1/requests/[id]/reviews/route.js", "api/auth/[...nextauth]/route.js"];

// ---------------------------------------------------------------------------------------------------------
// The server stack, shared with bench/approval-signature.ts

export interface AppStack {
  /** The checkout served (ROOT unless BENCH_APP_DIR is set). */
  appDir: string;
  origin: string;
  registryUrl: string;
  databaseUrl: string;
  serverPid: number;
  /** The postmaster's pid (its backends are its children), when readable. */
  postgresPid: number | null;
  /** How the build was obtained, e.g. "existing .next (BUILD_ID …)" or "built now". */
  build: string;
  notes: string[];
  cli(args: string[]): string;
  token(email: string): string;
  api<T = unknown>(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: T }>;
  stop(): Promise<void>;
  /** Another `next start` of the same build on the same Postgres and registry (a second replica); stopped by stop(). */
  startReplica(): Promise<{ origin: string; pid: number }>;
}

function newestSourceMtime(appDir: string): { file: string; mtimeMs: number } {
  let best = { file: "", mtimeMs: 0 };
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === "node_modules" || e.name === "generated" || e.name.startsWith(".")) continue;
        walk(p);
      } else if (/\.(ts|tsx|css)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) {
        const m = statSync(p).mtimeMs;
        if (m > best.mtimeMs) best = { file: p.slice(appDir.length + 1), mtimeMs: m };
      }
    }
  };
  for (const d of ["app", "lib", "components"]) if (existsSync(join(appDir, d))) walk(join(appDir, d));
  return best;
}

/** Uses the existing production build when it has the routes measured; otherwise runs `next build`. */
function ensureBuild(appDir: string, env: NodeJS.ProcessEnv, log: (s: string) => void): { build: string; notes: string[] } {
  const next = join(appDir, ".next");
  const missing = NEEDED_ROUTES.filter((r) => !existsSync(join(next, "server", "app", r)));
  const notes: string[] = [];
  if (existsSync(join(next, "BUILD_ID")) && missing.length === 0) {
    const id = readFileSync(join(next, "BUILD_ID"), "utf8").trim();
    const builtAt = statSync(join(next, "BUILD_ID")).mtimeMs;
    const newest = newestSourceMtime(appDir);
    if (newest.mtimeMs > builtAt)
      notes.push(`the build (${new Date(builtAt).toISOString()}) is older than ${newest.file}; delete .next to measure the current sources`);
    return { build: `existing .next (BUILD_ID ${id}, built ${new Date(builtAt).toISOString()})`, notes };
  }
  const why = existsSync(join(next, "BUILD_ID")) ? `the existing build lacks ${missing.join(", ")}` : ".next/BUILD_ID is missing";
  log(`${why}: running next build in ${appDir}`);
  const b = spawnSync(process.execPath, [join(appDir, "node_modules/next/dist/bin/next"), "build"], {
    cwd: appDir,
    env,
    stdio: ["ignore", process.stderr, process.stderr],
  });
  if (b.status !== 0) throw new Error(`next build failed in ${appDir} (exit ${b.status}); set BENCH_APP_DIR to a checkout that builds`);
  const id = readFileSync(join(next, "BUILD_ID"), "utf8").trim();
  notes.push(`${why}, so next build ran first`);
  return { build: `built now (BUILD_ID ${id})`, notes };
}

async function waitForServer(url: string, server: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error(`next start exited with ${server.exitCode}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

function forwardLines(stream: NodeJS.ReadableStream | null, prefix: string): void {
  if (!stream) return;
  let buf = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) process.stderr.write(`${prefix} ${line}\n`);
    }
  });
}

function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Postgres, a registry, the demo seed and `next start`, as e2e/global-setup.ts starts them, on free loopback ports. */
export async function startAppStack(log: (s: string) => void): Promise<AppStack> {
  const appDir = process.env.BENCH_APP_DIR ? join(process.env.BENCH_APP_DIR) : ROOT;
  let postgres: PostgresHandle | undefined;
  let registry: RegistryHandle | undefined;
  let server: ChildProcess | undefined;
  const replicas: ChildProcess[] = [];
  const stop = async () => {
    for (const s of replicas) {
      if (s.exitCode === null) {
        s.kill("SIGTERM");
        await new Promise((r) => (s.exitCode !== null ? r(null) : s.once("exit", r)));
      }
    }
    if (server && server.exitCode === null) {
      const s = server;
      s.kill("SIGTERM");
      await new Promise((r) => (s.exitCode !== null ? r(null) : s.once("exit", r)));
    }
    await registry?.destroy().catch((e: unknown) => log(`stopping registry: ${(e as Error).message}`));
    await postgres?.stop().catch((e: unknown) => log(`stopping postgres: ${(e as Error).message}`));
  };
  try {
    postgres = await startPostgres({});
    registry = await startRegistry({});
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: postgres.url,
      REGISTRY_URL: registry.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      NEXTAUTH_SECRET: randomBytes(32).toString("base64url"),
      NEXTAUTH_URL: origin,
      NEXT_TELEMETRY_DISABLED: "1",
      // No background jobs in the server: the figures are the requests' own.
      IMPRIMATUR_WORKERS: "0",
    };
    // Inherited settings that would change what is measured.
    delete env.REGISTRY_PULL_NAME;
    delete env.VERIFY_REFUSE_TAGS;
    const cli = (args: string[]): string => {
      const r = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", join(appDir, "scripts", "cli.ts"), ...args], {
        cwd: appDir,
        env,
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`imprimatur ${args.join(" ")} failed (exit ${r.status}): ${r.stderr.trim()}`);
      return r.stdout;
    };
    // Migrations and seed from the served checkout, so the schema matches the build.
    cli(["migrate"]);
    cli(["seed"]);
    log(`postgres at 127.0.0.1:${postgres.port}, registry at ${registry.url}; migrated and seeded from ${appDir}`);
    const { build, notes } = ensureBuild(appDir, env, log);
    server = spawn(
      process.execPath,
      [
        ...(process.env.BENCH_CPU_PROF_DIR ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF_DIR] : []),
        // e.g. BENCH_SERVER_NODE_FLAGS=--trace-gc: the server's garbage collections in the log, to tell its pauses from others'.
        ...(process.env.BENCH_SERVER_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean),
        join(appDir, "scripts", "server.mjs"),
        "-p",
        String(port),
        "-H",
        "127.0.0.1",
      ],
      { cwd: appDir, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    forwardLines(server.stdout, "[next]");
    forwardLines(server.stderr, "[next]");
    await waitForServer(`${origin}/signin`, server);
    log(`next start at ${origin} (${build})`);
    const api = async <T>(method: string, path: string, token: string | null, body?: unknown) => {
      const res = await fetch(origin + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: res.status, json: json as T };
    };
    return {
      appDir,
      origin,
      registryUrl: registry.url,
      databaseUrl: postgres.url,
      serverPid: server.pid!,
      postgresPid: postmasterPid(postgres.dir),
      build,
      notes,
      cli,
      token: (email) => cli(["token", "create", "--email", email, "--expires", "1d"]).trim().split("\n").pop()!,
      api,
      stop,
      startReplica: async () => {
        const p = await freePort();
        const o = `http://127.0.0.1:${p}`;
        const s = spawn(process.execPath, [join(appDir, "scripts", "server.mjs"), "-p", String(p), "-H", "127.0.0.1"], {
          cwd: appDir,
          env: { ...env, NEXTAUTH_URL: o },
          stdio: ["ignore", "pipe", "pipe"],
        });
        replicas.push(s);
        forwardLines(s.stdout, "[next 2]");
        forwardLines(s.stderr, "[next 2]");
        await waitForServer(`${o}/signin`, s);
        log(`replica next start at ${o}`);
        return { origin: o, pid: s.pid! };
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A small distinct image: one layer naming it. */
export function benchImage(name: string) {
  return buildImage({
    architecture: "amd64",
    layers: [{ "etc/imprimatur-bench": `${name}\n` }],
    labels: { "dev.imprimatur.bench.ref": name },
    cmd: ["/bin/true"],
  });
}

export function machineLoad(): { loadavg: number[]; uptime: string } {
  const r = spawnSync("uptime", [], { encoding: "utf8" });
  return { loadavg: loadavg().map((x) => Math.round(x * 100) / 100), uptime: (r.stdout ?? "").trim() };
}

// ---------------------------------------------------------------------------------------------------------
// The benchmark

type Kind = "approved digest" | "unapproved digest" | "tag";
const KINDS: Kind[] = ["approved digest", "unapproved digest", "tag"];

interface DbDelta {
  transactions: number;
  rowsInserted: number;
  rowsUpdated: number;
  rowsReturned: number;
  /** Rows inserted into the application's own tables (pg_stat_user_tables), without the catalogs ANALYZE writes. */
  appRowsInserted: number;
  /** Autovacuum and autoanalyze runs (every table): background work that lands in a window, not the requests'. */
  autovacuumRuns: number;
}

interface PhaseFigures extends LoadResult {
  endpoint: string;
  byKind: Record<string, Percentiles>;
  p99OverBaseline: number | null;
  goal: { p99Ms: number; met: boolean } | null;
  /** pg_stat_database deltas over the one-at-a-time requests, per request. */
  dbPerRequest: DbDelta | null;
  /**
   * CPU time per request over the one-at-a-time requests (next server, postgres), in ms: what a request costs,
   * less sensitive than latency to a machine shared with other work (though CPU steal still inflates it).
   */
  cpuMsPerRequestAlone: { server: number | null; postgres: number | null };
  /** The same requests one at a time before the load: latency without queueing. */
  sequentialMs: Percentiles & { errors: number };
}

export interface AdmissionFigures {
  benchmark: "admission";
  finishedAt: string;
  environment: {
    node: string;
    platform: string;
    cpus: number;
    appDir: string;
    build: string;
    benchScale: number;
    loadBefore: ReturnType<typeof machineLoad>;
    loadAfter: ReturnType<typeof machineLoad>;
  };
  load: { rate: number; warmupS: number; durationS: number; connections: number; timeoutMs: number; mix: string[] };
  baselineRoute: string;
  baseline: PhaseFigures;
  verify: PhaseFigures;
  imagereview: PhaseFigures;
  /** Issue 17: highest rate with p99 < 50 ms, one replica and two; verify's p99 at 80 % of the baseline's. */
  maxRate: {
    oneReplica: MaxRateFigures[];
    twoReplicas: MaxRateFigures[];
    atLoad: { rate: number; baselineP99Ms: number; verifyP99Ms: number; verifyErrors: number };
  };
  notes: string[];
}

const log = (msg: string) => process.stderr.write(`[bench admission ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(n < 10 ? 2 : 1)} ms` : "—");

async function dbStats(c: pg.Client): Promise<DbDelta> {
  const r = await c.query<{ xact_commit: string; tup_inserted: string; tup_updated: string; tup_returned: string; app_ins: string; av: string }>(
    `SELECT xact_commit, tup_inserted, tup_updated, tup_returned,
       (SELECT sum(n_tup_ins) FROM pg_stat_user_tables) AS app_ins,
       (SELECT sum(autovacuum_count + autoanalyze_count) FROM pg_stat_all_tables) AS av
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  const row = r.rows[0]!;
  return {
    transactions: Number(row.xact_commit),
    rowsInserted: Number(row.tup_inserted),
    rowsUpdated: Number(row.tup_updated),
    rowsReturned: Number(row.tup_returned),
    appRowsInserted: Number(row.app_ins),
    autovacuumRuns: Number(row.av),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Highest sustainable rate (issue 17): the highest open-loop arrival rate at which p99 stays under 50 ms with
// every request answered correctly. With several origins (replicas), the rate is split evenly and every origin
// must pass.
//
// One noisy step must not decide the figure (the machine is shared; a stall of another process, a GC or the JIT
// warming a route fails a single step): a failing step is run again after a pause, and a rate counts as failed
// only when it fails twice (confirmed). The search goes both ways: down by halves from the start rate until a rate
// passes, then up by ×1.5 from the highest passing rate until a confirmed failure, then bisects between the two.
// The same rule applies to the baseline and to the app, so their ratio compares like with like.

const MAX_RATE_P99_MS = 50;
const MAX_RATE_START = 100;
const MAX_RATE_CAP = 5000;
const MAX_RATE_MIN = 5;
const MAX_RATE_BISECT = 4;

export interface RateStep {
  rate: number;
  p99Ms: number;
  achievedRps: number;
  errors: number;
  pass: boolean;
  /** A second run of a rate whose first run failed. */
  retry?: boolean;
}

export interface MaxRateFigures {
  endpoint: string;
  origins: number;
  /** Highest passing rate (requests/s over all origins); 0 when even the lowest rate failed (confirmed). */
  maxRate: number;
  steps: RateStep[];
}

async function stepAt(origins: string[], rate: number, make: (i: number) => LoadRequest, warmupS: number, durationS: number): Promise<RateStep> {
  const per = rate / origins.length;
  const rs = await Promise.all(
    origins.map((origin) => runOpenLoop({ origin, rate: per, warmupS, durationS, connections: CONNECTIONS, timeoutMs: TIMEOUT_MS, request: make })),
  );
  const p99Ms = Math.max(...rs.map((r) => r.latencyMs.p99));
  const errors = rs.reduce((n, r) => n + r.errors, 0);
  const achievedRps = rs.reduce((n, r) => n + r.achievedRps, 0);
  return { rate, p99Ms, achievedRps, errors, pass: p99Ms < MAX_RATE_P99_MS && errors === 0 && achievedRps >= rate * 0.95 };
}

export async function findMaxRate(opts: { endpoint: string; origins: string[]; make: (i: number) => LoadRequest; scale: number }): Promise<MaxRateFigures> {
  // At least 4 s (400 samples at 100/s): in a 2-second step the p99 is the second-worst of 200, and one stall of
  // another process on the shared machine decided it.
  const durationS = Math.max(4, Math.round(8 * opts.scale));
  const warmupS = 1;
  const steps: RateStep[] = [];
  const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
  const run = async (rate: number, retry: boolean) => {
    const r: RateStep = { ...(await stepAt(opts.origins, rate, opts.make, warmupS, durationS)), ...(retry ? { retry } : {}) };
    steps.push(r);
    log(
      `${opts.endpoint} ×${opts.origins.length}: ${r.rate}/s${retry ? " (again)" : ""} → p99 ${ms(r.p99Ms)}, ${r.achievedRps.toFixed(0)}/s, ${r.errors} errors: ${r.pass ? "pass" : "FAIL"}`,
    );
    // A queue left behind by a failed step must drain before the next one starts.
    await sleep(r.pass ? 1500 : 4000);
    return r.pass;
  };
  /** Passes unless it fails twice in a row. */
  const passes = async (rate: number) => (await run(Math.round(rate), false)) || (await run(Math.round(rate), true));
  let pass = 0;
  let fail = 0;
  // Down: a machine too busy for the start rate halves until a rate passes.
  for (let rate = MAX_RATE_START; rate >= MAX_RATE_MIN; rate = Math.round(rate / 2)) {
    if (await passes(rate)) {
      pass = rate;
      break;
    }
    fail = rate;
  }
  if (!pass) return { endpoint: opts.endpoint, origins: opts.origins.length, maxRate: 0, steps };
  // A failure at the start rate, then a pass below it: the start rate is tried once more before it caps the search. On
  // this machine one stall of another process can fail a step twice in a row, and the start rate is then the bound of
  // the whole search (a session 17 run capped ImageReview at 97/s this way, against 618-783/s in earlier runs).
  if (fail && (await passes(fail))) {
    pass = fail;
    fail = 0;
  }
  // Up: from the start rate, or from the highest passing one after halving, until a confirmed failure.
  if (!fail) {
    for (let rate = pass * 1.5; rate <= MAX_RATE_CAP; rate *= 1.5) {
      if (!(await passes(rate))) {
        fail = Math.round(rate);
        break;
      }
      pass = Math.round(rate);
    }
  }
  if (fail) {
    let lo = pass;
    let hi = fail;
    for (let i = 0; i < MAX_RATE_BISECT && hi - lo > Math.max(5, lo * 0.04); i++) {
      const mid = Math.round((lo + hi) / 2);
      if (await passes(mid)) lo = mid;
      else hi = mid;
    }
    pass = lo;
  }
  return { endpoint: opts.endpoint, origins: opts.origins.length, maxRate: pass, steps };
}

/** The same max-rate ratios with 2 replicas on one Postgres (reported, the goals are for 1 replica). */
function twoReplicaRatios(found: MaxRateFigures[]): NonNullable<BenchmarkReport["ratios"]> {
  const [base, verify, review] = found;
  if (!base || !verify || !review || base.maxRate === 0) return {};
  return {
    verify_max_rate_vs_baseline_2_replicas: {
      value: verify.maxRate / base.maxRate,
      goal: "report only",
      raw: { verifyMaxRps: verify.maxRate, baselineMaxRps: base.maxRate, replicas: 2, p99LimitMs: MAX_RATE_P99_MS },
    },
    imagereview_max_rate_vs_baseline_2_replicas: {
      value: review.maxRate / base.maxRate,
      goal: "report only",
      raw: { imagereviewMaxRps: review.maxRate, baselineMaxRps: base.maxRate, containers: 3, replicas: 2, p99LimitMs: MAX_RATE_P99_MS },
    },
  };
}

export async function admissionBenchmark(opts: { scale: number }): Promise<BenchmarkReport<AdmissionFigures>> {
  const durationS = Math.max(3, Math.round(FULL_DURATION_S * opts.scale));
  const sequentialN = Math.max(50, Math.round(SEQUENTIAL_N * opts.scale));
  const loadBefore = machineLoad();
  log(`${RATE} requests/s, ${WARMUP_S} s warm-up + ${durationS} s measured per endpoint; ${loadBefore.uptime}`);
  const stack = await startAppStack(log);
  const problems: string[] = [];
  const notes = [...stack.notes];
  const pgc = new pg.Client({ connectionString: stack.databaseUrl });
  try {
    await pgc.connect();
    const [admin, dev, carol] = ["admin@example.com", "dev@example.com", "carol@example.com"].map((e) => stack.token(e)) as [string, string, string];
    const host = new URL(stack.registryUrl).host;

    // State: an approved digest (tag 1.0) and an unapproved one (tag 2.0).
    const client = new RegistryClient({ url: stack.registryUrl, timeoutMs: 30_000 });
    const approvedImg = benchImage(`${REPOSITORY}:1.0`);
    const unapprovedImg = benchImage(`${REPOSITORY}:2.0`);
    // A second approved digest, for the 3-container ImageReview of the max-rate search.
    const approvedImg2 = benchImage(`${REPOSITORY}:3.0`);
    await pushImage(client, REPOSITORY, approvedImg, ["1.0"]);
    await pushImage(client, REPOSITORY, unapprovedImg, ["2.0"]);
    await pushImage(client, REPOSITORY, approvedImg2, ["3.0"]);
    stack.cli(["sync"]);
    for (const img of [approvedImg, approvedImg2]) {
      const asked = await stack.api<{ id: string }>("POST", "/api/v1/requests", dev, {
        repository: REPOSITORY,
        digest: img.digest,
        stage: STAGE,
        note: "bench",
      });
      if (asked.status !== 201) throw new Error(`requesting promotion answered ${asked.status}: ${JSON.stringify(asked.json)}`);
      const approved = await stack.api<{ status: string }>("POST", `/api/v1/requests/${asked.json.id}/reviews`, carol, {
        decision: "approve",
        comment: "bench",
      });
      if (approved.status !== 201 || approved.json.status !== "signed")
        throw new Error(`approving answered ${approved.status}: ${JSON.stringify(approved.json)}`);
    }
    const ns = await stack.api("PUT", "/api/v1/admission/namespaces", admin, { namespace: NAMESPACE, stage: STAGE });
    if (ns.status !== 200) throw new Error(`setting the namespace policy answered ${ns.status}: ${JSON.stringify(ns.json)}`);
    log(`state: ${REPOSITORY}@${approvedImg.digest.slice(0, 19)}… approved and signed for ${STAGE}; ${unapprovedImg.digest.slice(0, 19)}… not`);

    const refs: Record<Kind, string> = {
      "approved digest": `${host}/${REPOSITORY}@${approvedImg.digest}`,
      "unapproved digest": `${host}/${REPOSITORY}@${unapprovedImg.digest}`,
      tag: `${host}/${REPOSITORY}:1.0`,
    };
    // Expected answers: verify resolves a tag from the last sync (VERIFY_REFUSE_TAGS unset); ImageReview refuses tags.
    const verifyAllows: Record<Kind, boolean> = { "approved digest": true, "unapproved digest": false, tag: true };
    const reviewAllows: Record<Kind, boolean> = { "approved digest": true, "unapproved digest": false, tag: false };
    const auth = { authorization: `Bearer ${admin}` };
    const verifyReq = (kind: Kind): LoadRequest => ({
      method: "GET",
      path: `/api/v1/verify?image=${encodeURIComponent(refs[kind])}&stage=${STAGE}`,
      headers: auth,
      label: kind,
      check: (status, body) => {
        if (status !== 200) return `HTTP ${status}`;
        return (JSON.parse(body) as { allowed?: unknown }).allowed === verifyAllows[kind] ? null : `wrong answer (${kind})`;
      },
    });
    const reviewBody = (kind: Kind) =>
      JSON.stringify({
        apiVersion: "imagepolicy.k8s.io/v1alpha1",
        kind: "ImageReview",
        spec: { containers: [{ image: refs[kind] }], annotations: {}, namespace: NAMESPACE },
      });
    const reviewReq = (kind: Kind): LoadRequest => ({
      method: "POST",
      path: "/api/v1/imagereview",
      headers: { ...auth, "content-type": "application/json" },
      body: reviewBody(kind),
      label: kind,
      check: (status, body) => {
        if (status !== 200) return `HTTP ${status}`;
        return (JSON.parse(body) as { status?: { allowed?: unknown } }).status?.allowed === reviewAllows[kind] ? null : `wrong answer (${kind})`;
      },
    });
    const baselineReq = (): LoadRequest => ({
      method: "GET",
      path: BASELINE_PATH,
      label: "baseline",
      check: (status) => (status === 200 ? null : `HTTP ${status}`),
    });

    // Each request once, sequentially: a wrong answer makes the figures meaningless.
    for (const kind of KINDS) {
      for (const [what, r] of [
        ["verify", verifyReq(kind)],
        ["imagereview", reviewReq(kind)],
      ] as const) {
        const res = await fetch(stack.origin + r.path, { method: r.method, headers: r.headers, body: r.body });
        const reason = r.check!(res.status, await res.text());
        if (reason) problems.push(`${what} of the ${kind}: ${reason}`);
      }
    }
    const b = await fetch(stack.origin + BASELINE_PATH);
    if (b.status !== 200) problems.push(`baseline ${BASELINE_PATH} answered ${b.status}`);
    await b.arrayBuffer();

    const phases: {
      endpoint: string;
      make: (i: number) => LoadRequest;
      sequential?: Percentiles & { errors: number };
      db?: DbDelta;
      cpu?: { server: number | null; postgres: number | null };
    }[] = [
      { endpoint: `GET ${BASELINE_PATH} (baseline)`, make: baselineReq },
      { endpoint: "GET /api/v1/verify", make: (i) => verifyReq(KINDS[i % KINDS.length]!) },
      { endpoint: "POST /api/v1/imagereview", make: (i) => reviewReq(KINDS[i % KINDS.length]!) },
    ];
    // One at a time first: every request is answered, so the pg_stat_database deltas divide exactly.
    const sleep = (n: number) => new Promise((r) => setTimeout(r, n));
    // Warm every route first (JIT, first-use compilation), so the CPU per request below is the steady cost.
    for (const p of phases) await runSequential({ origin: stack.origin, n: 20, request: p.make });
    await sleep(STATS_FLUSH_MS);
    let before = await dbStats(pgc);
    const cpuNow = () => ({ server: processTreeCpuMs(stack.serverPid), postgres: stack.postgresPid ? processTreeCpuMs(stack.postgresPid) : null });
    for (const p of phases) {
      const cpu0 = cpuNow();
      p.sequential = await runSequential({ origin: stack.origin, n: sequentialN, request: p.make });
      const cpu1 = cpuNow();
      const perReq = (a: number | null, b: number | null) => (a === null || b === null ? null : (b - a) / sequentialN);
      p.cpu = { server: perReq(cpu0.server, cpu1.server), postgres: perReq(cpu0.postgres, cpu1.postgres) };
      await sleep(STATS_FLUSH_MS);
      const after = await dbStats(pgc);
      // Our own statistics query is one transaction per phase: 1/SEQUENTIAL_N, left in.
      const per = (k: keyof DbDelta) => (after[k] - before[k]) / sequentialN;
      p.db = {
        transactions: per("transactions"),
        rowsInserted: per("rowsInserted"),
        rowsUpdated: per("rowsUpdated"),
        rowsReturned: per("rowsReturned"),
        appRowsInserted: per("appRowsInserted"),
        // A count in the window, not per request.
        autovacuumRuns: after.autovacuumRuns - before.autovacuumRuns,
      };
      before = after;
      log(
        `${p.endpoint}: one at a time, p50 ${ms(p.sequential.p50)}, p99 ${ms(p.sequential.p99)}; per request ${p.db.transactions.toFixed(2)} DB transactions, ${p.db.rowsInserted.toFixed(2)} rows inserted, CPU ${ms(p.cpu.server ?? NaN)} server + ${ms(p.cpu.postgres ?? NaN)} postgres`,
      );
    }
    const cpuOf: Record<string, number> = { server: stack.serverPid, ...(stack.postgresPid ? { postgres: stack.postgresPid } : {}) };
    const results: PhaseFigures[] = [];
    for (const p of phases) {
      log(`${p.endpoint}: ${RATE}/s for ${WARMUP_S} + ${durationS} s…`);
      const r = await runOpenLoop({
        origin: stack.origin,
        rate: RATE,
        warmupS: WARMUP_S,
        durationS,
        connections: CONNECTIONS,
        timeoutMs: TIMEOUT_MS,
        request: p.make,
        cpuOf,
      });
      log(
        `${p.endpoint}: p50 ${ms(r.latencyMs.p50)}, p99 ${ms(r.latencyMs.p99)}, max ${ms(r.latencyMs.max)}, ${r.achievedRps.toFixed(0)}/s, ${r.errors} errors`,
      );
      results.push({
        ...r,
        endpoint: p.endpoint,
        byKind: r.byLabel,
        p99OverBaseline: null,
        goal: null,
        dbPerRequest: p.db ?? null,
        cpuMsPerRequestAlone: p.cpu ?? { server: null, postgres: null },
        sequentialMs: p.sequential!,
      });
      // Let the server finish what it had accepted before the next phase.
      await sleep(SETTLE_MS);
    }
    const [baseline, verify, imagereview] = results as [PhaseFigures, PhaseFigures, PhaseFigures];

    // Issue 17: the highest rate each sustains (p99 < 50 ms), ImageReview with 3 containers, then verify's p99 at
    // 80 % of the baseline's highest rate, then the same search with 2 replicas on the one Postgres.
    const ref2 = `${host}/${REPOSITORY}@${approvedImg2.digest}`;
    const review3 = [
      { containers: [refs["approved digest"], ref2, refs["approved digest"]], allowed: true },
      { containers: [refs["approved digest"], ref2, refs["unapproved digest"]], allowed: false },
    ];
    const review3Req = (i: number): LoadRequest => {
      const r = review3[i % review3.length]!;
      return {
        method: "POST",
        path: "/api/v1/imagereview",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({
          apiVersion: "imagepolicy.k8s.io/v1alpha1",
          kind: "ImageReview",
          spec: { containers: r.containers.map((image) => ({ image })), annotations: {}, namespace: NAMESPACE },
        }),
        label: r.allowed ? "3 allowed" : "2 allowed, 1 denied",
        check: (status, body) =>
          status !== 200
            ? `HTTP ${status}`
            : (JSON.parse(body) as { status?: { allowed?: unknown } }).status?.allowed === r.allowed
              ? null
              : "wrong answer (3-container review)",
      };
    };
    const verifyMix = (i: number) => verifyReq(KINDS[i % KINDS.length]!);
    const searchAll = async (origins: string[]): Promise<MaxRateFigures[]> => {
      const found: MaxRateFigures[] = [];
      for (const [endpoint, make] of [
        ["baseline", baselineReq],
        ["verify", verifyMix],
        ["imagereview (3 containers)", review3Req],
      ] as const) {
        found.push(await findMaxRate({ endpoint, origins, make, scale: opts.scale }));
        await sleep(SETTLE_MS);
      }
      // The baseline does strictly less work than verify or ImageReview on the same server: an app rate above it
      // means the baseline's search was unlucky, not that the app is faster. Search the baseline again and keep
      // the higher figure (the conservative choice for the ratios); if an app rate is still above, say so.
      const [base, ...apps] = found as [MaxRateFigures, ...MaxRateFigures[]];
      if (apps.some((a) => a.maxRate > base.maxRate)) {
        log(`baseline ×${origins.length}: an app rate is above the baseline's ${base.maxRate}/s; searching the baseline again`);
        const again = await findMaxRate({ endpoint: "baseline", origins, make: baselineReq, scale: opts.scale });
        await sleep(SETTLE_MS);
        const best = again.maxRate > base.maxRate ? again : base;
        found[0] = { ...best, steps: [...base.steps, ...again.steps] };
        notes.push(`baseline ×${origins.length}: searched twice (an app rate was above the first result ${base.maxRate}/s); kept ${best.maxRate}/s`);
        for (const a of apps)
          if (a.maxRate > best.maxRate)
            notes.push(`${a.endpoint} ×${origins.length}: ${a.maxRate}/s is above the baseline's ${best.maxRate}/s: a ratio > 1 is noise, not a result`);
      }
      return found;
    };
    const searches = await searchAll([stack.origin]);
    const [baseMax, verifyMax, reviewMax] = searches as [MaxRateFigures, MaxRateFigures, MaxRateFigures];
    const atLoadS = Math.max(3, Math.round(10 * opts.scale));
    const atLoad = (rate: number, request: (i: number) => LoadRequest) =>
      runOpenLoop({ origin: stack.origin, rate, warmupS: 1, durationS: atLoadS, connections: CONNECTIONS, timeoutMs: TIMEOUT_MS, request });
    // The rate is chosen by the baseline alone, then verify runs at that same rate: 80 % of the baseline's highest
    // rate, lowered by a fifth (at most three times) while the baseline itself does not hold p99 < 50 ms there over
    // this longer window. Otherwise both sides are measured saturated (the short search steps can find a rate the
    // machine holds for 2 s but not for 10), and the ratio of two queueing delays says nothing about verify.
    let atLoadRate = Math.max(10, Math.round(baseMax.maxRate * 0.8));
    let baseAtLoad = await atLoad(atLoadRate, baselineReq);
    for (let i = 0; i < 3 && atLoadRate > 10 && (baseAtLoad.latencyMs.p99 >= MAX_RATE_P99_MS || baseAtLoad.errors > 0); i++) {
      log(`at ${atLoadRate}/s the baseline's p99 is ${ms(baseAtLoad.latencyMs.p99)} (≥ ${MAX_RATE_P99_MS} ms): saturated, lowering the rate by a fifth`);
      notes.push(`at-load rate ${atLoadRate}/s: the baseline did not hold p99 < ${MAX_RATE_P99_MS} ms (${ms(baseAtLoad.latencyMs.p99)}); lowered`);
      await sleep(SETTLE_MS);
      atLoadRate = Math.max(10, Math.round(atLoadRate * 0.8));
      baseAtLoad = await atLoad(atLoadRate, baselineReq);
    }
    await sleep(SETTLE_MS);
    const verifyAtLoad = await atLoad(atLoadRate, verifyMix);
    log(
      `at ${atLoadRate}/s (chosen by the baseline, from 80 % of its ${baseMax.maxRate}/s): baseline p99 ${ms(baseAtLoad.latencyMs.p99)}, verify p99 ${ms(verifyAtLoad.latencyMs.p99)} (${verifyAtLoad.errors} errors)`,
    );
    for (const r of [baseAtLoad, verifyAtLoad])
      for (const [k, n] of Object.entries(r.errorsByKind)) if (k.startsWith("wrong answer")) problems.push(`at ${atLoadRate}/s: ${n} × ${k}`);
    const replicaSearches: MaxRateFigures[] = [];
    if (process.env.BENCH_REPLICAS !== "1") {
      await sleep(SETTLE_MS);
      const second = await stack.startReplica();
      replicaSearches.push(...(await searchAll([stack.origin, second.origin])));
    }
    // A wrong answer during a search makes that step fail; it must not pass unnoticed as a figure either.
    for (const f of [...searches, ...replicaSearches])
      if (f.steps.some((st) => st.errors > 0 && st.p99Ms < MAX_RATE_P99_MS))
        notes.push(`${f.endpoint} ×${f.origins}: a step failed on errors, not on latency (see steps)`);
    const ratioOf = (a: number, b: number) => (b > 0 ? a / b : 0);
    // With no passing baseline rate (a machine too busy even at 5/s), there is nothing to divide by: say so and
    // report no ratio rather than a misleading 0.
    if (baseMax.maxRate === 0)
      notes.push(
        `the baseline held p99 < ${MAX_RATE_P99_MS} ms at no rate tried (down to ${MAX_RATE_MIN}/s): the machine is too busy; no max-rate ratio is reported`,
      );
    const ratios: NonNullable<BenchmarkReport["ratios"]> =
      baseMax.maxRate === 0
        ? {}
        : {
            verify_max_rate_vs_baseline: {
              value: ratioOf(verifyMax.maxRate, baseMax.maxRate),
              goal: ">= 0.9",
              raw: { verifyMaxRps: verifyMax.maxRate, baselineMaxRps: baseMax.maxRate, p99LimitMs: MAX_RATE_P99_MS },
            },
            imagereview_max_rate_vs_baseline: {
              value: ratioOf(reviewMax.maxRate, baseMax.maxRate),
              goal: ">= 0.9",
              raw: { imagereviewMaxRps: reviewMax.maxRate, baselineMaxRps: baseMax.maxRate, containers: 3, p99LimitMs: MAX_RATE_P99_MS },
            },
            verify_p99_at_load_vs_baseline: {
              value: ratioOf(verifyAtLoad.latencyMs.p99, baseAtLoad.latencyMs.p99),
              goal: "<= 2.0",
              raw: { rateRps: atLoadRate, verifyP99Ms: verifyAtLoad.latencyMs.p99, baselineP99Ms: baseAtLoad.latencyMs.p99, verifyErrors: verifyAtLoad.errors },
            },
            ...twoReplicaRatios(replicaSearches),
          };
    for (const p of [verify, imagereview]) {
      p.p99OverBaseline = p.latencyMs.p99 / baseline.latencyMs.p99;
      p.goal = { p99Ms: GOAL_P99_MS, met: p.latencyMs.p99 <= GOAL_P99_MS && p.errors === 0 && p.achievedRps >= RATE * 0.98 };
    }
    for (const p of results) {
      const wrong = Object.entries(p.errorsByKind).filter(([k]) => k.startsWith("wrong answer"));
      for (const [k, n] of wrong) problems.push(`${p.endpoint}: ${n} × ${k}`);
      if (p.sendLagMs.p99 > 5)
        notes.push(
          `${p.endpoint}: the generator itself sent late (p99 ${ms(p.sendLagMs.p99)}, max ${ms(p.sendLagMs.max)}); that lateness is in the latency figures`,
        );
    }
    const loadAfter = machineLoad();
    const figures: AdmissionFigures = {
      benchmark: "admission",
      finishedAt: new Date().toISOString(),
      environment: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpus: availableParallelism(),
        appDir: stack.appDir,
        build: stack.build,
        benchScale: opts.scale,
        loadBefore,
        loadAfter,
      },
      load: { rate: RATE, warmupS: WARMUP_S, durationS, connections: CONNECTIONS, timeoutMs: TIMEOUT_MS, mix: KINDS.map((k) => `${k}: ${refs[k]}`) },
      baselineRoute: BASELINE_PATH,
      baseline,
      verify,
      imagereview,
      maxRate: {
        oneReplica: searches,
        twoReplicas: replicaSearches,
        atLoad: { rate: atLoadRate, baselineP99Ms: baseAtLoad.latencyMs.p99, verifyP99Ms: verifyAtLoad.latencyMs.p99, verifyErrors: verifyAtLoad.errors },
      },
      notes,
    };

    const row = (label: string, f: (p: PhaseFigures) => string) => [label, f(baseline), f(verify), f(imagereview)];
    const rows: string[][] = [
      ["figure", `baseline ${BASELINE_PATH}`, "verify", "imagereview"],
      row("p50", (p) => ms(p.latencyMs.p50)),
      row("p95", (p) => ms(p.latencyMs.p95)),
      row("p99", (p) => ms(p.latencyMs.p99)),
      row("p99.9", (p) => ms(p.latencyMs.p999)),
      row("max", (p) => ms(p.latencyMs.max)),
      row("achieved rate", (p) => `${p.achievedRps.toFixed(1)}/s of ${RATE}`),
      row("errors", (p) => `${p.errors}${p.errors ? ` ${JSON.stringify(p.errorsByKind)}` : ""}`),
      row("p99 / baseline p99", (p) => (p.p99OverBaseline === null ? "1" : `${p.p99OverBaseline.toFixed(1)} ×`)),
      row(`goal p99 ≤ ${GOAL_P99_MS} ms`, (p) => (p.goal ? (p.goal.met ? "met" : "NOT met") : "")),
      row("service p99 (from send)", (p) => ms(p.serviceMs.p99)),
      row("generator send lag p99/max", (p) => `${ms(p.sendLagMs.p99)} / ${ms(p.sendLagMs.max)}`),
      row("one at a time p50 / p99", (p) => `${ms(p.sequentialMs.p50)} / ${ms(p.sequentialMs.p99)}`),
      row("one at a time p50 / baseline's", (p) => (p === baseline ? "1" : `${(p.sequentialMs.p50 / baseline.sequentialMs.p50).toFixed(1)} ×`)),
      row("CPU: next server / postgres", (p) => ["server", "postgres"].map((n) => (p.cores[n] == null ? "?" : p.cores[n]!.toFixed(2))).join(" / ") + " cores"),
      row("CPU / request, alone: server + postgres", (p) => `${ms(p.cpuMsPerRequestAlone.server ?? NaN)} + ${ms(p.cpuMsPerRequestAlone.postgres ?? NaN)}`),
      row("server CPU / request over the baseline's (alone)", (p) =>
        p.cpuMsPerRequestAlone.server !== null && baseline.cpuMsPerRequestAlone.server
          ? `${(p.cpuMsPerRequestAlone.server / baseline.cpuMsPerRequestAlone.server).toFixed(2)} ×`
          : "?",
      ),
      row("DB transactions / request (alone)", (p) => (p.dbPerRequest ? p.dbPerRequest.transactions.toFixed(2) : "?")),
      row("DB rows inserted / request (alone)", (p) => (p.dbPerRequest ? p.dbPerRequest.rowsInserted.toFixed(2) : "?")),
      row("… of them in app tables / autovacuum runs in window", (p) =>
        p.dbPerRequest ? `${p.dbPerRequest.appRowsInserted.toFixed(2)} / ${p.dbPerRequest.autovacuumRuns}` : "?",
      ),
    ];
    const maxRow = (f: MaxRateFigures[]) => f.map((x) => `${x.endpoint} ${x.maxRate}/s`).join(", ");
    rows.push(["highest rate with p99 < 50 ms, 1 replica", ...searches.map((x) => `${x.maxRate}/s`)]);
    if (replicaSearches.length) rows.push(["highest rate with p99 < 50 ms, 2 replicas", ...replicaSearches.map((x) => `${x.maxRate}/s`)]);
    const details = [
      `highest rate, 1 replica: ${maxRow(searches)} (ImageReview: 3 containers per review); 2 replicas on one Postgres: ${replicaSearches.length ? maxRow(replicaSearches) : "not run (BENCH_REPLICAS=1)"}`,
      `verify p99 at ${atLoadRate}/s (80 % of the baseline's highest, lowered while the baseline was saturated there): ${ms(verifyAtLoad.latencyMs.p99)} vs the baseline's ${ms(baseAtLoad.latencyMs.p99)}`,
      ...Object.entries(ratios).map(([k, r]) => `${k} = ${r.value.toFixed(2)} (goal ${r.goal})`),
      `mix (round robin): ${KINDS.join(", ")}; stage ${STAGE}; namespace ${NAMESPACE} → ${STAGE}`,
      ...[verify, imagereview].map(
        (p) =>
          `${p.endpoint} p99 by kind: ${Object.entries(p.byKind)
            .map(([k, v]) => `${k} ${ms(v.p99)} (p50 ${ms(v.p50)})`)
            .join(", ")}`,
      ),
      `open loop: ${RATE}/s, ${WARMUP_S} s warm-up + ${durationS} s measured, ${CONNECTIONS} keep-alive connections (undici Pool), latency from each request's due time`,
      `generator CPU: ${results.map((p) => `${p.generatorCores.toFixed(2)}`).join(" / ")} cores; DB transactions count each autocommit statement as one (pg_stat_database)`,
      `served from ${stack.appDir}: ${stack.build}`,
      `machine: ${figures.environment.cpus} CPUs; before: ${loadBefore.uptime}; after: ${loadAfter.uptime}`,
      ...notes.map((n) => `note: ${n}`),
    ];
    return {
      name: "admission",
      title: "Admission: verify API and ImageReview at 500 requests/s, and the highest rate each sustains",
      rows,
      details,
      figures,
      ratios,
      problems,
    };
  } finally {
    await pgc.end().catch(() => {});
    await stack.stop();
  }
}

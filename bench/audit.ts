// Benchmark: the audit trail at 1,000,000 events — a filtered page (the Audit page and GET /api/v1/audit) and the
// streamed export, each against plain SQL reading the same rows.
//
//   npm run bench -- audit
//   BENCH_SCALE=0.05 npm run bench -- audit      # 50,000 events
//
//   1. load   a fresh, migrated embedded Postgres straight with SQL (INSERT … SELECT): BENCH_SCALE × 1,000,000
//             events over the last 365 days, 200 actors with skewed activity, the catalogue's kinds (review,
//             request, approval and signature events carry a stage and a request id, five events per request),
//             2% failures, 1% denials; ANALYZE. The migrations' indexes exist while loading, as in production.
//   2. pages  listAuditEvents() (the app, in a child process with its own Prisma client) against a hand-written
//             statement for the same rows through plain pg, alternating, for a mix of filters; the first page and a
//             page 400 events deep (from a cursor). p50/p95 of each, and app p95 over raw p95.
//   3. export exportAuditEvents() as NDJSON over the whole trail (within the 366-day cap), the stream consumed,
//             against plain pg reading the same rows in the same keyset batches: rows per second and the ratio.
//
// A benchmark, not a test: it reports and never fails on timing; it fails only when the app and the raw SQL disagree
// on the rows, since the figures would then mean nothing.
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startPostgres, type PostgresHandle } from "../scripts/lib/services.mjs";
import type { AuditBenchFilter, AuditChildInput, AuditChildOutput } from "./audit-child";
import type { BenchmarkReport } from "./lib/report";
import { fmtInt, fmtMs, runBenchChild } from "./lib/util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FULL_EVENTS = 1_000_000;
const PAGE = 50;
const ROUNDS = 20;
/** Must equal AUDIT_RESULT_MARKER in audit-child.ts (not imported: that module runs when loaded). */
const AUDIT_RESULT_MARKER = "BENCH_AUDIT_RESULT ";
const log = (msg: string) => process.stderr.write(`[bench audit ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const KINDS = [
  ...Array(10).fill("review.approve"),
  ...Array(6).fill("request.create"),
  ...Array(4).fill("approval.create"),
  ...Array(4).fill("signature.push"),
  ...Array(8).fill("key.use"),
  ...Array(6).fill("auth.signin"),
  ...Array(8).fill("admission.review"),
  ...Array(4).fill("request.denied"),
  "review.reject",
  "review.break-glass",
  "waiver.grant",
  "registry.sync",
  "evidence.upload",
  "evidence.discover",
  "token.create",
  "stage.update",
];
const WITH_REQUEST = ["review.approve", "request.create", "approval.create", "signature.push", "review.reject", "review.break-glass"];

async function load(url: string, n: number): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t0 = performance.now();
  try {
    const step = 200_000;
    for (let lo = 1; lo <= n; lo += step) {
      const hi = Math.min(n, lo + step - 1);
      await c.query(
        `INSERT INTO audit_events (seq, at, actor_type, actor_id, actor_label, action, outcome, target_digest, target, detail, prev_hash, hash)
         SELECT g, now() - interval '365 days' + (g::float8 / $3) * interval '365 days' + interval '1 second',
                'user', NULL, 'user' || floor(power(random(), 3) * 200)::int || '@example.com', k.action,
                CASE WHEN g % 50 = 0 THEN 'failure' WHEN g % 100 = 7 THEN 'denied' ELSE 'success' END,
                CASE WHEN k.action = ANY($5) THEN 'sha256:' || encode(sha256(((g / 5) % 20000)::text::bytea), 'hex') END,
                'reg/apps/app' || (g % 500),
                CASE WHEN k.action = ANY($5)
                     THEN jsonb_build_object('stage', (ARRAY['dev','test','prod'])[1 + (g / 5) % 3], 'requestId', '00000000-0000-4000-8000-' || lpad(to_hex(g / 5), 12, '0'), 'approvals', 1, 'required', 2)
                     ELSE jsonb_build_object('n', g) END,
                encode(sha256((g - 1)::text::bytea), 'hex'), encode(sha256(g::text::bytea), 'hex')
         FROM generate_series($1::bigint, $2::bigint) g
         CROSS JOIN LATERAL (SELECT ($4::text[])[1 + (g * 7919) % array_length($4::text[], 1)] AS action) k`,
        [lo, hi, n, KINDS, WITH_REQUEST],
      );
      log(`loaded ${fmtInt(hi)} / ${fmtInt(n)}`);
    }
    await c.query("ANALYZE audit_events");
  } finally {
    await c.end();
  }
  return performance.now() - t0;
}

function filters(n: number): AuditBenchFilter[] {
  const req = `00000000-0000-4000-8000-${Math.floor(n / 2 / 5)
    .toString(16)
    .padStart(12, "0")}`;
  const week = new Date(Date.now() - 7 * 86_400_000).toISOString();
  return [
    { name: "none (newest first)", qs: "", sql: "", params: [] },
    { name: "actor (busiest)", qs: "actor=user0%40example.com", sql: "actor_label = $1", params: ["user0@example.com"] },
    { name: "actor (rare)", qs: "actor=user190%40example.com", sql: "actor_label = $1", params: ["user190@example.com"] },
    { name: "action family review", qs: "action=review", sql: "action LIKE 'review.%'", params: [] },
    { name: "exact kind waiver.grant", qs: "action=waiver.grant", sql: "action = 'waiver.grant'", params: [] },
    {
      name: "actor + family",
      qs: "actor=user3%40example.com&action=review",
      sql: "actor_label = $1 AND action LIKE 'review.%'",
      params: ["user3@example.com"],
    },
    { name: "outcome failure", qs: "outcome=failure", sql: "outcome = 'failure'", params: [] },
    {
      name: "target stage prod",
      qs: "target=stage%3Aprod",
      sql: "(detail->>'stage' = 'prod' OR target = 'stage prod' OR (action IN ('stage.create','stage.update') AND target = 'prod'))",
      params: [],
    },
    { name: "target request", qs: `target=request%3A${req}`, sql: "detail->>'requestId' = $1", params: [req] },
    { name: "target repository", qs: "target=repository%3Areg%2Fapps%2Fapp7", sql: "target = 'reg/apps/app7'", params: [] },
    { name: "last 7 days + denied", qs: `from=${encodeURIComponent(week)}&outcome=denied`, sql: "at >= $1 AND outcome = 'denied'", params: [week] },
  ];
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN;
}

export async function auditBenchmark(opts: { scale: number }): Promise<BenchmarkReport> {
  const n = Math.max(10_000, Math.round(FULL_EVENTS * opts.scale));
  let postgres: PostgresHandle | undefined;
  try {
    postgres = await startPostgres({});
    await migrate(postgres.url);
    log(`loading ${fmtInt(n)} events (BENCH_SCALE=${opts.scale})…`);
    const loadMs = await load(postgres.url, n);
    log(`loaded in ${fmtMs(loadMs)}`);
    const fs = filters(n);
    const input: AuditChildInput = {
      filters: fs,
      rounds: ROUNDS,
      pageSize: PAGE,
      export: { from: new Date(Date.now() - 366 * 86_400_000 + 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() },
    };
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: postgres.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      IMPRIMATUR_WORKERS: "0",
    };
    delete env.REGISTRY_URL;
    const out = await runBenchChild<AuditChildOutput>({
      root: ROOT,
      script: join(ROOT, "bench", "audit-child.ts"),
      env,
      marker: AUDIT_RESULT_MARKER,
      input,
      log: (l) => log(`[child] ${l}`),
    });
    const rows: string[][] = [["filter", "page", "rows", "app p50", "app p95", "raw p50", "raw p95", "app p95 / raw p95"]];
    const perFilter: Record<string, unknown>[] = [];
    const all = { app: [] as number[], raw: [] as number[] };
    fs.forEach((f, i) => {
      for (const deep of [false, true]) {
        const s = out.samples.filter((x) => x.f === i && x.deep === deep);
        if (!s.length) continue;
        const app = s.map((x) => x.appMs);
        const raw = s.map((x) => x.rawMs);
        all.app.push(...app);
        all.raw.push(...raw);
        const fig = {
          filter: f.name,
          deep,
          rows: s[0]!.rows,
          appP50: pct(app, 50),
          appP95: pct(app, 95),
          rawP50: pct(raw, 50),
          rawP95: pct(raw, 95),
          ratio: pct(app, 95) / pct(raw, 95),
        };
        perFilter.push(fig);
        rows.push([
          f.name,
          deep ? "deep" : "first",
          String(fig.rows),
          fmtMs(fig.appP50),
          fmtMs(fig.appP95),
          fmtMs(fig.rawP50),
          fmtMs(fig.rawP95),
          `${fig.ratio.toFixed(2)}×`,
        ]);
      }
    });
    const e = out.export;
    const appRate = e.rows / (e.appMs / 1000);
    const rawRate = e.rawRows / (e.rawMs / 1000);
    rows.push([
      "all filters",
      "both",
      "",
      fmtMs(pct(all.app, 50)),
      fmtMs(pct(all.app, 95)),
      fmtMs(pct(all.raw, 50)),
      fmtMs(pct(all.raw, 95)),
      `${(pct(all.app, 95) / pct(all.raw, 95)).toFixed(2)}×`,
    ]);
    const details = [
      `${fmtInt(n)} events loaded in ${fmtMs(loadMs)}; ${ROUNDS} measured rounds of ${PAGE}-event pages per filter (after a warm-up round).`,
      `The app's page includes the staged-events check (one EXISTS probe; a fold when something is staged), filter parsing and mapping rows; raw is the same rows by plain pg.`,
      `export (NDJSON, whole trail): app ${fmtInt(e.rows)} rows, ${(e.bytes / 1024 / 1024).toFixed(1)} MiB in ${fmtMs(e.appMs)} = ${fmtInt(Math.round(appRate))} rows/s; raw batched SELECT ${fmtInt(Math.round(rawRate))} rows/s; app/raw rate ${(appRate / rawRate).toFixed(2)}.`,
    ];
    return {
      name: "audit",
      title: `Audit trail: filtered pages and export on ${fmtInt(n)} events`,
      rows,
      details,
      figures: {
        events: n,
        loadMs,
        pageSize: PAGE,
        rounds: ROUNDS,
        pages: perFilter,
        pagesAll: { appP95: pct(all.app, 95), rawP95: pct(all.raw, 95), ratio: pct(all.app, 95) / pct(all.raw, 95) },
        export: { ...e, appRowsPerS: appRate, rawRowsPerS: rawRate, ratio: appRate / rawRate },
      },
      problems: out.mismatches,
    };
  } finally {
    await postgres?.stop();
  }
}

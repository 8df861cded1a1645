// Benchmark: the images list page at the limit (issue 17, image_list_p95_vs_raw).
//
//   npm run bench -- image-list
//   BENCH_SCALE=0.1 npm run bench -- image-list     # quick run (scales the number of images)
//
//   1. load   a fresh, migrated embedded Postgres straight with SQL (bench/lib/image-list-seed*.ts): BENCH_SCALE ×
//             10,000 images across 3 registries and 500 repositories, with tags and tag moves, platforms,
//             publisher/team/stage signatures, build/test/prod approvals (the stage_decisions triggers run),
//             Trivy scans with findings, base images, stages at risk; ANALYZE.
//   2. list   in a child process with the app's own Prisma client: the page's server work (parseListImagesQuery +
//             listImages, as GET /api/v1/images runs them for app/(app)/images) against the raw SQL for the
//             same page (bench/image-list-child.ts), interleaved, over a mix of filters, sorts and pages.
//             p50/p95 both sides; the goal ratio is app p95 / raw p95 (≤ 2.0). A page whose rows differ from
//             the raw query's is a problem (the run then exits 1).
//
// A benchmark, not a test: it reports figures and never fails on timing.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startPostgres, type PostgresHandle } from "../scripts/lib/services.mjs";
import { IMAGE_LIST_RESULT_MARKER, type ImageListChildInput, type ImageListChildOutput } from "./image-list-child";
import { seedImageList } from "./lib/image-list-seed-trust";
import type { SeedCounts } from "./lib/image-list-seed";
import { percentiles, type Percentiles } from "./lib/load";
import type { BenchmarkReport, RatioResult } from "./lib/report";
import { runBenchChild } from "./lib/util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FULL_IMAGES = 10_000;
const ROUNDS = 15;
const GOAL = 2.0;

const log = (msg: string) => process.stderr.write(`[bench image-list ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The table's views: its filters, sort orders, page 1 and a deep page. */
function cases(images: number): ImageListChildInput["cases"] {
  const deep = Math.max(2, Math.floor((images * 0.8) / 50));
  // Page 3 of about 1,800 images at full scale; page 1 when a quick run has too few for a third page.
  const combined = images >= 2000 ? 3 : 1;
  return [
    { name: "no filter", query: "" },
    { name: "registry", query: "registry=corp" },
    { name: "repository text", query: "repository=platform" },
    { name: "tag text", query: "tag=latest" },
    { name: "passed prod", query: "stage=prod" },
    { name: "passed no stage", query: "stage=none" },
    { name: "has critical findings", query: "severity=critical" },
    { name: "signed", query: "signed=signed" },
    { name: "unsigned", query: "signed=unsigned" },
    { name: "recently seen", query: "sort=seen&dir=desc" },
    { name: "oldest build", query: "sort=created&dir=asc" },
    { name: `deep page ${deep}`, query: `page=${deep}` },
    { name: `registry + passed build, newest build, page ${combined}`, query: `registry=corp&stage=build&sort=created&dir=desc&page=${combined}` },
  ];
}

export interface ImageListFigures {
  benchmark: "image-list";
  finishedAt: string;
  environment: { node: string; cpus: number; benchScale: number; postgres: string; commit: string; appChanges: string[] };
  load: { ms: number; steps: Record<string, number>; counts: SeedCounts };
  samples: number;
  app: Percentiles;
  raw: Percentiles;
  ratio: { p50: number; p95: number };
  perCase: { name: string; query: string; total: number; statements: number; appP50: number; rawP50: number; appP95: number; rawP95: number }[];
  problems: string[];
}

function gitState(): { commit: string; appChanges: string[] } {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout?.trim() ?? "";
  return { commit: git("rev-parse", "--short", "HEAD") || "unknown", appChanges: git("status", "--porcelain", "--", "lib").split("\n").filter(Boolean) };
}

const ms = (n: number) => `${n.toFixed(1)} ms`;

function summarize(
  input: ImageListChildInput,
  out: ImageListChildOutput,
  load: ImageListFigures["load"],
  env: ImageListFigures["environment"],
): ImageListFigures {
  const problems: string[] = [];
  for (const ch of out.checks) {
    const c = input.cases[ch.c]!;
    if (ch.refused) problems.push(`${c.name} (${c.query}): the app refused it: ${ch.refused}`);
    for (const m of ch.mismatches) problems.push(`${c.name} (${c.query}): ${m}`);
    if (!ch.refused && ch.total === 0) problems.push(`${c.name} (${c.query}): no images match, so it measures nothing`);
  }
  if (load.counts.topLevel < FULL_IMAGES * env.benchScale * 0.99)
    problems.push(`loaded ${load.counts.topLevel} top-level images, expected ${Math.round(FULL_IMAGES * env.benchScale)}`);
  const app = percentiles(out.samples.map((s) => s.appMs));
  const raw = percentiles(out.samples.map((s) => s.rawMs));
  const perCase = input.cases.map((c, k) => {
    const xs = out.samples.filter((s) => s.c === k);
    const a = percentiles(xs.map((s) => s.appMs));
    const r = percentiles(xs.map((s) => s.rawMs));
    return {
      name: c.name,
      query: c.query,
      total: out.checks[k]!.total,
      statements: out.checks[k]!.statements,
      appP50: a.p50,
      rawP50: r.p50,
      appP95: a.p95,
      rawP95: r.p95,
    };
  });
  return {
    benchmark: "image-list",
    finishedAt: new Date().toISOString(),
    environment: env,
    load,
    samples: out.samples.length,
    app,
    raw,
    ratio: { p50: app.p50 / raw.p50, p95: app.p95 / raw.p95 },
    perCase,
    problems,
  };
}

function report(f: ImageListFigures): BenchmarkReport<ImageListFigures> {
  const rows = [
    ["measure", "p50", "p95", "goal", "met"],
    [`app: parseListImagesQuery + listImages (${f.samples} calls)`, ms(f.app.p50), ms(f.app.p95), "", ""],
    ["raw SQL for the same page (pg)", ms(f.raw.p50), ms(f.raw.p95), "", ""],
    ["app / raw", `${f.ratio.p50.toFixed(2)}×`, `${f.ratio.p95.toFixed(2)}×`, `p95 ≤ ${GOAL}×`, f.ratio.p95 <= GOAL ? "yes" : "NO"],
  ];
  const c = f.load.counts;
  const details = [
    `load ${ms(f.load.ms)}: ${c.topLevel} listed images (${c.images} rows with platform manifests), ${c.repositories} repositories, ${c.tags} tags, ${c.signatures} signatures, ${c.approvals} approvals, ${c.decisions} stage decisions, ${c.findings} findings, ${c.stageRisks} at risk`,
    `load steps: ${Object.entries(f.load.steps)
      .map(([k, v]) => `${k} ${ms(v)}`)
      .join(", ")}`,
    `code: ${f.environment.commit}${f.environment.appChanges.length ? ` + uncommitted lib/ changes (${f.environment.appChanges.length})` : ""}; Postgres ${f.environment.postgres}; ${f.environment.cpus} CPUs`,
    "",
    "per case (app | raw):",
    ...f.perCase.map(
      (p) =>
        `  ${p.name.padEnd(48)} ${String(p.total).padStart(6)} images  ${p.statements} SQL  p50 ${ms(p.appP50)} | ${ms(p.rawP50)}   p95 ${ms(p.appP95)} | ${ms(p.rawP95)}`,
    ),
  ];
  const ratios: Record<string, RatioResult> = {
    image_list_p95_vs_raw: {
      value: f.ratio.p95,
      goal: `<= ${GOAL}`,
      raw: {
        appP95Ms: f.app.p95,
        rawP95Ms: f.raw.p95,
        appP50Ms: f.app.p50,
        rawP50Ms: f.raw.p50,
        images: c.topLevel,
        samples: f.samples,
        benchScale: f.environment.benchScale,
      },
    },
  };
  return { name: "image-list", title: "Images list page: server time over the raw SQL for the page", rows, details, figures: f, ratios, problems: f.problems };
}

async function postgresVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
  } finally {
    await c.end();
  }
}

/** Runs the benchmark and returns its report (bench/run.ts prints and writes it). */
export async function imageListBenchmark(opts: { scale: number }): Promise<BenchmarkReport<ImageListFigures>> {
  const images = Math.max(100, Math.round(FULL_IMAGES * opts.scale));
  const git = gitState();
  let postgres: PostgresHandle | undefined;
  try {
    postgres = await startPostgres({});
    await migrate(postgres.url);
    const version = await postgresVersion(postgres.url);
    log(`postgres ${version}, migrated; loading ${images} images (BENCH_SCALE=${opts.scale})…`);
    const c = new pg.Client({ connectionString: postgres.url });
    await c.connect();
    const steps: Record<string, number> = {};
    const t0 = performance.now();
    let counts: SeedCounts;
    try {
      counts = await seedImageList(c, { images, prefix: "", prodTtlDays: 90 }, (name, t) => {
        steps[name] = t;
        log(`  ${name}: ${ms(t)}`);
      });
    } finally {
      await c.end();
    }
    const load = { ms: performance.now() - t0, steps, counts };
    const input: ImageListChildInput = { cases: cases(images), rounds: ROUNDS, warmupRounds: 1 };
    log(`list: ${input.cases.length} cases × ${ROUNDS} rounds, app and raw interleaved`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: postgres.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      IMPRIMATUR_WORKERS: "0",
    };
    delete env.REGISTRY_URL;
    delete env.REGISTRY_PULL_NAME;
    const out = await runBenchChild<ImageListChildOutput>({
      root: ROOT,
      script: join(ROOT, "bench", "image-list-child.ts"),
      env,
      marker: IMAGE_LIST_RESULT_MARKER,
      input,
      log: (l) => log(`[child] ${l}`),
    });
    return report(summarize(input, out, load, { node: process.version, cpus: availableParallelism(), benchScale: opts.scale, postgres: version, ...git }));
  } finally {
    await postgres?.stop().catch((e: unknown) => log(`stopping postgres: ${(e as Error).message}`));
  }
}

// Benchmark: time changes all things (issue 12).
//
//   npm run bench -- aging
//   BENCH_SCALE=0.1 npm run bench -- aging      # N = 10,000 × scale approved images, K = 1,000 × scale approvals
//
//   1. re-evaluating N approved images after one advisory import (the real GHSA-35jh-r3h4-6jhm, matching every
//      image): time, and its ratio to one fleet search over the same rows;
//   2. a bulk revocation of K approvals (signatures really in the registry): time, registry round-trips per
//      approval, and its ratio to the same number of bare registry round-trips.
// Fresh embedded Postgres and registry; the app runs in bench/aging-child.ts. Figures only: nothing fails on time.
import { randomBytes } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startPostgres, startRegistry, type PostgresHandle, type RegistryHandle } from "../scripts/lib/services.mjs";
import { AGING_RESULT_MARKER, type AgingChildInput, type AgingChildOutput } from "./aging-child";
import type { BenchmarkReport } from "./lib/report";
import { runBenchChild } from "./lib/util";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const log = (m: string) => process.stderr.write(`[bench aging ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

export async function agingBenchmark({ scale }: { scale: number }): Promise<
  BenchmarkReport<
    AgingChildOutput & {
      scale: number;
      reevaluateOverSearch: number;
      msPerImage: number;
      requestsPerApproval: number;
      bulkOverBare: number;
      msPerApproval: number;
    }
  >
> {
  const input: AgingChildInput = { images: Math.max(100, Math.round(10_000 * scale)), approvals: Math.max(10, Math.round(1_000 * scale)) };
  let pgh: PostgresHandle | undefined;
  let reg: RegistryHandle | undefined;
  try {
    pgh = await startPostgres({});
    await migrate(pgh.url);
    reg = await startRegistry({});
    log(`N = ${input.images} images, K = ${input.approvals} approvals (BENCH_SCALE=${scale})`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: pgh.url,
      REGISTRY_URL: reg.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      IMPRIMATUR_WORKERS: "0",
    };
    delete env.REGISTRY_PULL_NAME;
    const out = await runBenchChild<AgingChildOutput>({
      root: ROOT,
      script: join(HERE, "aging-child.ts"),
      env,
      marker: AGING_RESULT_MARKER,
      input,
      log: (l) => log(l),
    });
    const problems: string[] = [];
    if (out.atRisk !== out.images) problems.push(`expected every one of ${out.images} images at risk after the import, got ${out.atRisk}`);
    if (out.bulkDone !== out.approvals) problems.push(`the bulk revocation revoked ${out.bulkDone} of ${out.approvals} approvals`);
    const figures = {
      scale,
      ...out,
      reevaluateOverSearch: out.reevaluateMs / out.searchMs,
      msPerImage: out.reevaluateMs / out.images,
      requestsPerApproval: out.registryRequests / out.approvals,
      bulkOverBare: out.bulkMs / (out.registryRequests * out.bareRoundTripMs),
      msPerApproval: out.bulkMs / out.approvals,
    };
    return {
      name: "aging",
      title: "Re-evaluation after an advisory import; bulk revocation",
      rows: [
        ["measure", "value", "baseline", "ratio"],
        [`advisory import (${out.importFindings} findings)`, ms(out.importMs), "", ""],
        [
          `re-evaluate ${out.images} approved images`,
          ms(out.reevaluateMs),
          `fleet search ${ms(out.searchMs)} (${out.searchHits} hits)`,
          `${figures.reevaluateOverSearch.toFixed(1)}×`,
        ],
        ["  per image", ms(figures.msPerImage), "", ""],
        [
          `bulk revocation of ${out.approvals} approvals`,
          ms(out.bulkMs),
          `${out.registryRequests} bare round-trips × ${ms(out.bareRoundTripMs)}`,
          `${figures.bulkOverBare.toFixed(2)}×`,
        ],
        ["  per approval", ms(figures.msPerApproval), "", ""],
        ["  registry round-trips per approval", figures.requestsPerApproval.toFixed(1), "", ""],
      ],
      details: [
        `registry requests by kind: ${Object.entries(out.requestKinds)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")}`,
        `setup: load ${ms(out.loadMs)}, ${out.approvals} approvals through the workflow ${ms(out.setupMs)}`,
      ],
      figures,
      problems,
    };
  } finally {
    await reg?.destroy().catch(() => {});
    await pgh?.stop().catch(() => {});
  }
}

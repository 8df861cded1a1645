// Entry point of `npm run bench`: runs the benchmarks, prints their figures and writes each one's to
// bench/results/<name>.json. Benchmarks report; they never fail on timing.
//
//   npm run bench                      # all benchmarks, full scale
//   BENCH_SCALE=0.05 npm run bench     # quick run (scales the registry-sync repository count)
//   npm run bench -- registry-sync     # only the named benchmark(s)
//   BENCH_CPU_PROF_DIR=/tmp/prof npm run bench   # also write CPU profiles of the sync processes
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { registrySyncBenchmark } from "./registry-sync";
import { evidenceBenchmark } from "./evidence";
import { ingestRssBenchmark } from "./ingest-rss";
import { admissionBenchmark } from "./admission";
import { approvalSignatureBenchmark } from "./approval-signature";
import { agingBenchmark } from "./aging";
import { auditBenchmark } from "./audit";
import { imageListBenchmark } from "./image-list";
import { meetsGoal, type BenchmarkReport, type RatioResult } from "./lib/report";
import { textTable } from "./lib/util";

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, "results");

function benchScale(): number {
  const raw = process.env.BENCH_SCALE ?? "1";
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

const BENCHMARKS: { name: string; run: (opts: { scale: number }) => Promise<BenchmarkReport> }[] = [
  { name: "registry-sync", run: registrySyncBenchmark },
  { name: "evidence", run: evidenceBenchmark },
  { name: "ingest-rss", run: ingestRssBenchmark },
  { name: "admission", run: admissionBenchmark },
  { name: "approval-signature", run: approvalSignatureBenchmark },
  { name: "aging", run: agingBenchmark },
  { name: "audit", run: auditBenchmark },
  { name: "image-list", run: imageListBenchmark },
];

/** Merges this run's ratios into bench/results/summary.json (`{ ratios: { name: value }, raw: { name: … } }`). */
function writeSummary(ratios: Record<string, RatioResult>): void {
  if (!Object.keys(ratios).length) return;
  const file = join(RESULTS, "summary.json");
  type Summary = { ratios: Record<string, number>; details: Record<string, RatioResult & { measuredAt: string }> };
  const prev: Summary = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Summary) : { ratios: {}, details: {} };
  const at = new Date().toISOString();
  for (const [name, r] of Object.entries(ratios)) {
    prev.ratios[name] = Number(r.value.toPrecision(4));
    prev.details[name] = { ...r, measuredAt: at };
  }
  writeFileSync(file, JSON.stringify(prev, null, 2) + "\n");
  console.log("\n== goal ratios (bench/results/summary.json) ==\n");
  console.log(
    textTable([
      ["name", "value", "goal", "met"],
      ...Object.entries(ratios).map(([name, r]) => {
        const met = meetsGoal(r);
        return [name, r.value.toFixed(3), r.goal, met === null ? "-" : met ? "yes" : "NO"];
      }),
    ]),
  );
}

async function main(argv: string[]): Promise<number> {
  const scale = benchScale();
  const wanted = argv.filter((a) => !a.startsWith("-"));
  const unknown = wanted.filter((w) => !BENCHMARKS.some((b) => b.name === w));
  if (unknown.length) throw new Error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`);
  const selected = wanted.length ? BENCHMARKS.filter((b) => wanted.includes(b.name)) : BENCHMARKS;
  let failed = false;
  const ratios: Record<string, RatioResult> = {};
  for (const b of selected) {
    const report = await b.run({ scale });
    Object.assign(ratios, report.ratios ?? {});
    mkdirSync(RESULTS, { recursive: true });
    const file = join(RESULTS, `${report.name}.json`);
    writeFileSync(file, JSON.stringify({ ...(report.figures as object), problems: report.problems }, null, 2) + "\n");
    console.log(`\n== ${report.title} ==\n`);
    console.log(textTable(report.rows));
    if (report.details.length) console.log("\n" + report.details.join("\n"));
    console.log(`\nwritten to ${relative(process.cwd(), file) || file}`);
    if (report.problems.length) {
      failed = true;
      console.error(`\n${report.title}: the sync did not do its job, so these figures are not meaningful:`);
      for (const p of report.problems) console.error(`  - ${p}`);
    }
  }
  writeSummary(ratios);
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error("bench failed:", e);
    process.exit(1);
  },
);

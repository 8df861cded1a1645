// Benchmark (issue 17): peak RSS of ingesting a 256 MiB CycloneDX SBOM over ingesting a 10 MiB one, each in a fresh
// child process (bench/ingest-rss-child.ts) against a fresh, migrated embedded Postgres. Goal
// `ingest_peak_rss_256mib_vs_10mib` ≤ 1.5: memory should not grow with the document.
//
//   npx tsx bench/ingest-rss.ts                  # 256 MiB vs 10 MiB
//   BENCH_SCALE=0.1 npx tsx bench/ingest-rss.ts  # quick run: both sizes × 0.1 (25.6 MiB vs 1 MiB)
//
// The documents are Syft-like CycloneDX 1.5 SBOMs (bench/evidence-child.ts buildSbom), written to a temp file; the
// child reads the file as the upload route reads a body. A benchmark, not a test: it reports figures only.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startPostgres, type PostgresHandle } from "../scripts/lib/services.mjs";
import { buildSbom } from "./evidence-child";
import type { IngestRssChildInput, IngestRssChildOutput } from "./ingest-rss-child";
import type { BenchmarkReport, RatioResult } from "./lib/report";
import { MiB, runBenchChild } from "./lib/util";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const log = (msg: string) => process.stderr.write(`[bench ingest-rss ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** An SBOM of about `target` bytes: the component count is scaled from a sample's size. */
function sbomOfSize(target: number, subjectDigest: string): Buffer {
  const sample = buildSbom({ components: 2000, subjectDigest, serial: "00000000-0000-4000-8000-000000000000" });
  const n = Math.max(10, Math.round((2000 * target) / sample.length));
  return buildSbom({
    components: n,
    subjectDigest,
    serial: randomBytes(16)
      .toString("hex")
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5"),
  });
}

export interface IngestRssFigures {
  scale: number;
  rounds: number;
  /** The median run of each size (by peak RSS). */
  small: IngestRssChildOutput & { targetMiB: number };
  large: IngestRssChildOutput & { targetMiB: number };
  smallRuns: IngestRssChildOutput[];
  largeRuns: IngestRssChildOutput[];
  ratio: number;
}

/** Runs of each size (BENCH_INGEST_ROUNDS, default 3): the median counts. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_INGEST_ROUNDS ?? "3") || 3);

export async function ingestRssBenchmark(opts: { scale: number }): Promise<BenchmarkReport<IngestRssFigures>> {
  const sizes = { small: 10 * MiB * opts.scale, large: 256 * MiB * opts.scale };
  let postgres: PostgresHandle | undefined;
  let c: pg.Client | undefined;
  const dir = mkdtempSync(join(tmpdir(), "ingest-rss-"));
  try {
    postgres = await startPostgres({});
    await migrate(postgres.url);
    const client = new pg.Client({ connectionString: postgres.url });
    // Stopping Postgres after a failed child ends this connection: an error event, not a crash of the whole bench run.
    client.on("error", () => {});
    c = client;
    await client.connect();
    const reg = await client.query<{ id: string }>(
      `INSERT INTO registries (id, name, url, updated_at) VALUES (gen_random_uuid(), 'default', 'http://127.0.0.1:5000', now()) RETURNING id`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: postgres.url,
      IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
      IMPRIMATUR_WORKERS: "0",
      EVIDENCE_MAX_BYTES: String(512 * MiB),
    };
    delete env.REGISTRY_URL;
    // One document per size, written once; each run ingests it for an image of its own (same digest, a repository
    // of its own), so every run stores the whole document into a database of the same size and shape.
    const digest = `sha256:${randomBytes(32).toString("hex")}`;
    const files = { small: join(dir, "small.json"), large: join(dir, "large.json") };
    for (const which of ["small", "large"] as const) {
      const doc = sbomOfSize(sizes[which], digest);
      writeFileSync(files[which], doc);
      log(`${which}: ${(doc.length / MiB).toFixed(1)} MiB document written`);
    }
    let n = 0;
    const run = async (which: "small" | "large", label: string) => {
      const r = await client.query<{ id: string }>(`INSERT INTO repositories (id, registry_id, name) VALUES (gen_random_uuid(), $1, $2) RETURNING id`, [
        reg.rows[0]!.id,
        `bench/ingest-${n++}`,
      ]);
      const img = await client.query<{ id: string }>(
        `INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture)
         VALUES (gen_random_uuid(), $1, $2, 'application/vnd.oci.image.manifest.v1+json', 1024, convert_to('{"schemaVersion":2}', 'UTF8'), $3, 'linux', 'amd64') RETURNING id`,
        [r.rows[0]!.id, digest, `sha256:${randomBytes(32).toString("hex")}`],
      );
      const input: IngestRssChildInput = { file: files[which], imageId: img.rows[0]!.id };
      const out = await runBenchChild<IngestRssChildOutput>({ root: ROOT, script: "bench/ingest-rss-child.ts", env, marker: "BENCH_INGEST_RSS ", input, log });
      log(
        `${label}: peak RSS ${(out.peakRssBytes / MiB).toFixed(0)} MiB (${(out.baselineRssBytes / MiB).toFixed(0)} MiB before the document), ${out.components} components, ${(out.ms / 1000).toFixed(1)} s`,
      );
      return { ...out, targetMiB: sizes[which] / MiB };
    };
    // A discarded first child: the first process to load the app's modules also fills tsx's transpile cache, which
    // cost it tens of MiB of RSS that later children do not pay (it made whichever size ran first look bigger).
    await run("small", "warm-up (not counted)");
    // Then the sizes alternate, ROUNDS of each, and each side's median counts: one child's peak moved by up to 20 %
    // between runs of the same document (when V8's collector runs relative to the sampling), on either side.
    const smalls: IngestRssChildOutput[] = [];
    const larges: IngestRssChildOutput[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      smalls.push(await run("small", `small ${i + 1}/${ROUNDS}`));
      larges.push(await run("large", `large ${i + 1}/${ROUNDS}`));
    }
    const median = (xs: (IngestRssChildOutput & { targetMiB: number })[]) => [...xs].sort((a, b) => a.peakRssBytes - b.peakRssBytes)[(xs.length - 1) >> 1]!;
    const small = median(smalls as (IngestRssChildOutput & { targetMiB: number })[]);
    const large = median(larges as (IngestRssChildOutput & { targetMiB: number })[]);
    const ratio = large.peakRssBytes / small.peakRssBytes;
    const problems: string[] = [];
    if (small.components < 10 || large.components <= small.components) problems.push(`component counts look wrong: ${small.components} / ${large.components}`);
    const ratios: Record<string, RatioResult> = {
      ingest_peak_rss_256mib_vs_10mib: {
        value: ratio,
        goal: "<= 1.5",
        raw: {
          largePeakRssMiB: large.peakRssBytes / MiB,
          smallPeakRssMiB: small.peakRssBytes / MiB,
          largeDocumentMiB: large.bytes / MiB,
          smallDocumentMiB: small.bytes / MiB,
          largeComponents: large.components,
          smallComponents: small.components,
          benchScale: opts.scale,
          rounds: ROUNDS,
          smallPeaksMiB: smalls.map((o) => Math.round(o.peakRssBytes / MiB)).join(" "),
          largePeaksMiB: larges.map((o) => Math.round(o.peakRssBytes / MiB)).join(" "),
        },
      },
    };
    const f = (o: typeof small) => [
      `${(o.bytes / MiB).toFixed(1)} MiB`,
      String(o.components),
      `${(o.peakRssBytes / MiB).toFixed(0)} MiB`,
      `${(o.baselineRssBytes / MiB).toFixed(0)} MiB`,
      `${(o.ms / 1000).toFixed(1)} s`,
    ];
    return {
      name: "ingest-rss",
      title: "Evidence: peak RSS of an SBOM ingest by document size",
      rows: [
        ["document", "size", "components", "peak RSS", "RSS before", "time"],
        ["small", ...f(small)],
        ["large", ...f(large)],
      ],
      details: [
        `peak RSS, ${ROUNDS} runs each (MiB): small ${smalls.map((o) => (o.peakRssBytes / MiB).toFixed(0)).join(", ")}; large ${larges.map((o) => (o.peakRssBytes / MiB).toFixed(0)).join(", ")}`,
        `peak RSS large / small (medians): ${ratio.toFixed(2)}× (goal ≤ 1.5)`,
      ],
      figures: { scale: opts.scale, rounds: ROUNDS, small, large, smallRuns: smalls, largeRuns: larges, ratio },
      ratios,
      problems,
    };
  } finally {
    await c?.end().catch(() => {});
    await postgres?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const scale = Number(process.env.BENCH_SCALE ?? "1");
  ingestRssBenchmark({ scale }).then(
    (r) => {
      console.log(r.rows.map((x) => x.join("  ")).join("\n"));
      console.log(r.details.join("\n"));
      console.log(JSON.stringify(r.ratios));
      process.exit(r.problems.length ? 1 : 0);
    },
    (e) => {
      console.error("bench ingest-rss failed:", e);
      process.exit(1);
    },
  );
}

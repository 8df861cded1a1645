// One SBOM ingest in its own process, for bench/ingest-rss.ts: reads the document from a file as the upload route
// reads a request body (streamed, capped at EVIDENCE_MAX_BYTES), ingests it as the upload route does
// (ingestEvidenceUpload: large CycloneDX/SPDX SBOMs streamed; BENCH_INGEST_PATH=buffered: ingestEvidence) and prints its
// peak RSS. Run by the parent with DATABASE_URL, IMPRIMATUR_MASTER_KEY and IMPRIMATUR_WORKERS=0 set.
import { createReadStream } from "node:fs";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { peakRssBytes } from "./lib/util";

export interface IngestRssChildInput {
  file: string;
  imageId: string;
}
export interface IngestRssChildOutput {
  peakRssBytes: number;
  baselineRssBytes: number;
  ms: number;
  components: number;
  bytes: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function main(): Promise<void> {
  const input = JSON.parse(await readStdin()) as IngestRssChildInput;
  const { ingestEvidence } = await import("../lib/server/evidence/ingest-evidence");
  const { readBodyCapped, bodyChunks } = await import("../lib/server/http/read-body");
  const { ingestEvidenceUpload } = await import("../lib/server/evidence/ingest-evidence-upload");
  const { env } = await import("../lib/env");
  const { db, disconnectDb } = await import("../lib/db");
  await db.$queryRaw`SELECT 1`;
  // What the process holds before the document: the app's modules and a connection.
  const baselineRssBytes = peakRssBytes();
  const t = performance.now();
  // Where the peak sits (heap, external buffers), for BENCH_MEMORY_TRACE=1.
  const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const trace =
    process.env.BENCH_MEMORY_TRACE === "1"
      ? setInterval(() => {
          const m = process.memoryUsage();
          for (const k of Object.keys(peaks) as (keyof typeof peaks)[]) peaks[k] = Math.max(peaks[k], m[k]);
        }, 100)
      : null;
  const body = new Request("http://bench.local/", {
    method: "POST",
    body: Readable.toWeb(createReadStream(input.file)) as ReadableStream,
    duplex: "half",
  } as RequestInit);
  // BENCH_INGEST_PATH=buffered measures the pre-issue-17 path (whole body, then ingestEvidence) for a before figure.
  const r =
    process.env.BENCH_INGEST_PATH === "buffered"
      ? await ingestEvidence({
          actor: { kind: "system", label: "bench" },
          imageId: input.imageId,
          bytes: await readBodyCapped(body, env().EVIDENCE_MAX_BYTES),
          source: "upload",
        })
      : await ingestEvidenceUpload({
          actor: { kind: "system", label: "bench" },
          imageId: input.imageId,
          body: bodyChunks(body),
          maxBytes: env().EVIDENCE_MAX_BYTES,
        });
  const ms = performance.now() - t;
  if (trace) {
    clearInterval(trace);
    console.error(
      `[ingest-rss-child] peak MiB: ${Object.entries(peaks)
        .map(([k, v]) => `${k} ${(v / 1048576).toFixed(0)}`)
        .join(", ")}`,
    );
  }
  const out: IngestRssChildOutput = { peakRssBytes: peakRssBytes(), baselineRssBytes, ms, components: r.document.componentCount, bytes: r.document.size };
  await disconnectDb();
  process.stdout.write(`BENCH_INGEST_RSS ${JSON.stringify(out)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error("[ingest-rss-child]", e);
      process.exit(1);
    },
  );
}

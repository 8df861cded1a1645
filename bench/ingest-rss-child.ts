// One SBOM ingest in its own process, for bench/ingest-rss.ts: reads the document from a file as the upload route
// reads a request body (streamed, capped at EVIDENCE_MAX_BYTES), ingests it with ingestEvidence() and prints its
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
  const { readBodyCapped } = await import("../lib/server/http/read-body");
  const { env } = await import("../lib/env");
  const { db, disconnectDb } = await import("../lib/db");
  await db.$queryRaw`SELECT 1`;
  // What the process holds before the document: the app's modules and a connection.
  const baselineRssBytes = peakRssBytes();
  const t = performance.now();
  const body = new Request("http://bench.local/", { method: "POST", body: Readable.toWeb(createReadStream(input.file)) as ReadableStream, duplex: "half" } as RequestInit);
  const bytes = await readBodyCapped(body, env().EVIDENCE_MAX_BYTES);
  const r = await ingestEvidence({ actor: { kind: "system", label: "bench" }, imageId: input.imageId, bytes, source: "upload" });
  const ms = performance.now() - t;
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

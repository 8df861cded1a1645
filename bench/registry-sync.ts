// Benchmark: a full registry sync against a large local registry.
//
//   1. fill   a fresh Debian docker-registry (Distribution 2.8) with BENCH_SCALE × 2,000 repositories of 5 tags
//             each, every tag a distinct small real OCI image, pushed with the project's RegistryClient;
//   2. baseline: a plain fetch client (no database) sends the requests a cold sync sends, with the sync's
//             concurrency (REPO_CONCURRENCY × TAG_CONCURRENCY, read from sync-registry.ts);
//   3. cold sync: syncRegistry() into a fresh, migrated database of an embedded Postgres, in a child process (its
//             peak RSS); twice, each run after a run of both baselines, into a database of its own; the fastest counts,
//             as for the baselines.
//             The child runs one trivial query before the timed call: a server's Prisma client is started once
//             and stays warm, so the ~1 s of loading Prisma's query compiler in a fresh process is not a cost a
//             sync pays (bench/sync-child.ts). Registry connections are not warmed (the plain client's aren't);
//   4. re-sync: the same again with nothing changed (goal: no manifest body fetched), twice, interleaved with
//             a plain client listing the registry and HEADing every tag (Node fetch, and fetch with HEADs kept alive).
//
// Ratios (bench/results/summary.json): sync_cold_vs_plain = cold sync rate / the plain client's rate making the
// same requests (the faster of two orders); resync_vs_plain_head = re-sync rate / the faster plain HEAD client.
//
// A benchmark, not a test: it reports figures and ratios and never fails on timing. It fails only when the
// sync itself is wrong (errors, or counts that don't match what was pushed), since its figures would then mean
// nothing. All traffic goes to loopback.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Agent, fetch as undiciFetch } from "undici";
import { keepAliveHeads, RegistryClient } from "../lib/oci/client";
import { MANIFEST_ACCEPT, MT } from "../lib/oci/media-types";
import { migrate } from "../scripts/lib/migrate.mjs";
import { buildImage } from "../scripts/lib/oci-build";
import { registryBinary, startPostgres, startRegistry, type PostgresHandle, type RegistryHandle } from "../scripts/lib/services.mjs";
import { RequestCounter, totalRequests, type RequestCounts } from "./lib/request-counter";
import { SYNC_RESULT_MARKER, type SyncChildOutput } from "./lib/sync-protocol";
import { fmtInt, fmtMs, mapLimit, MiB, runBenchChild } from "./lib/util";
import type { BenchmarkReport, RatioResult } from "./lib/report";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const FULL_REPOSITORIES = 2000;
const TAGS_PER_REPOSITORY = 5;
const FILL_CONCURRENCY = 16;
/** Runs of each baseline; the fastest counts. */
const BASELINE_RUNS = 2;
/** No-change re-syncs (and plain HEAD baselines run between them); the fastest of each counts. */
const RESYNC_RUNS = 2;
/** Same page size as the client's DEFAULT_LIMITS.pageSize. */
const PAGE_SIZE = 1000;

/** The sync's concurrency, read from its source so the baseline follows it when it changes. */
function syncConcurrency(): { repo: number; tag: number; fromSource: boolean } {
  let src = "";
  try {
    src = readFileSync(join(ROOT, "lib", "server", "images", "sync-registry.ts"), "utf8");
  } catch {
    // fall through to the defaults
  }
  const repo = /\bREPO_CONCURRENCY\s*=\s*(\d+)/.exec(src)?.[1];
  const tag = /\bTAG_CONCURRENCY\s*=\s*(\d+)/.exec(src)?.[1];
  return { repo: repo ? Number(repo) : 6, tag: tag ? Number(tag) : 4, fromSource: Boolean(repo && tag) };
}

function registryVersion(): string {
  const bin = registryBinary();
  if (!bin) return "unknown";
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return (r.stdout || r.stderr || "").trim() || "unknown";
}

const log = (msg: string) => process.stderr.write(`[bench registry-sync ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function repositoryNames(count: number): string[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => `bench/svc-${String(i).padStart(Math.max(4, width), "0")}`);
}

function tagNames(): string[] {
  return Array.from({ length: TAGS_PER_REPOSITORY }, (_, i) => `v1.${i}`);
}

// ---------------------------------------------------------------------------------------------------------
// 1. Fill

async function fill(registryUrl: string, repositories: string[]): Promise<{ ms: number; images: number; requests: RequestCounts; connections: number }> {
  const client = new RegistryClient({ url: registryUrl, timeoutMs: 60_000 });
  const jobs = repositories.flatMap((repository) => tagNames().map((tag) => ({ repository, tag })));
  const counter = new RequestCounter(new URL(registryUrl).origin).start();
  let done = 0;
  let nextReport = 0.1;
  const t0 = performance.now();
  try {
    await mapLimit(jobs, FILL_CONCURRENCY, async ({ repository, tag }) => {
      // A distinct image per tag: its own layer (a file naming it), hence its own config and manifest.
      const image = buildImage({
        architecture: "amd64",
        layers: [{ "etc/imprimatur-bench": `${repository}:${tag}\n` }],
        labels: { "dev.imprimatur.bench.ref": `${repository}:${tag}` },
        cmd: ["/bin/true"],
      });
      for (const blob of image.blobs) await client.putBlob(repository, blob.bytes);
      // Pushed by tag only, as `docker push` does; the registry links the digest too.
      await client.putManifest(repository, tag, image.manifest, image.mediaType);
      done++;
      if (done / jobs.length >= nextReport) {
        log(`fill: ${done}/${jobs.length} images (${fmtMs(performance.now() - t0)})`);
        nextReport += 0.1;
      }
    });
  } finally {
    counter.stop();
  }
  return { ms: performance.now() - t0, images: jobs.length, requests: counter.snapshot(), connections: counter.connectionsOpened };
}

/**
 * BENCH_SYNC_REGISTRY_DIR=<dir> keeps the registry's storage in <dir> and, when a fill of the same shape finished
 * there before (its filled.json), skips the fill (at full scale it takes minutes on a loaded machine). Nothing
 * else is reused: the baselines still check that they see every repository and manifest, the sync still runs
 * into a fresh database, and the figures of the skipped fill are reported as zero.
 */
async function fillOrReuse(registryUrl: string, repositories: string[], dir: string | undefined): ReturnType<typeof fill> {
  const marker = dir ? join(dir, "filled.json") : undefined;
  const shape = JSON.stringify({ repositories: repositories.length, tagsPerRepository: TAGS_PER_REPOSITORY });
  if (marker && existsSync(marker) && JSON.stringify(JSON.parse(readFileSync(marker, "utf8"))) === shape) {
    log(`fill skipped: ${dir} holds a finished fill of the same shape`);
    return { ms: 0, images: repositories.length * TAGS_PER_REPOSITORY, requests: {}, connections: 0 };
  }
  const filled = await fill(registryUrl, repositories);
  if (marker) writeFileSync(marker, shape + "\n");
  return filled;
}

// ---------------------------------------------------------------------------------------------------------
// 2. Baseline: plain fetch, no database, the requests a cold sync sends

export type BaselineOrder =
  /** As the sync orders them: per repository, tags first (TAG_CONCURRENCY at once), then referrers one by one. */
  | "sync-order"
  /** Each tag worker asks for its image's referrers right after the config; same concurrency limits. */
  | "pipelined";

interface BaselineResult {
  order: BaselineOrder;
  ms: number;
  /** CPU time (user + system) of this process during the baseline. */
  cpuMs: number;
  repositories: number;
  manifests: number;
  requests: RequestCounts;
  connections: number;
  referrerStatuses: Record<string, number>;
}

async function plain(url: string, method: "GET" | "HEAD", accept?: string): Promise<{ res: Response; body: Buffer }> {
  const res = await fetch(url, { method, headers: accept ? { accept } : {} });
  const body = method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  return { res, body };
}

function nextPage(link: string | null, current: string): string | null {
  const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
  return m?.[1] ? new URL(m[1], current).toString() : null;
}

async function listPaged(first: string, key: "repositories" | "tags"): Promise<string[]> {
  const out: string[] = [];
  for (let url: string | null = first; url;) {
    const { res, body } = await plain(url, "GET");
    if (res.status !== 200) throw new Error(`baseline: GET ${url} answered ${res.status}`);
    out.push(...(((JSON.parse(body.toString("utf8")) as Record<string, string[] | null>)[key] ?? []) as string[]));
    url = nextPage(res.headers.get("link"), url);
  }
  return out;
}

async function baseline(registryUrl: string, order: BaselineOrder, conc: { repo: number; tag: number }): Promise<BaselineResult> {
  const base = registryUrl.replace(/\/+$/, "");
  const counter = new RequestCounter(new URL(base).origin).start();
  const referrerStatuses: Record<string, number> = {};
  let manifests = 0;
  // The sync asks for referrers once per run when the registry answers 404 (no referrers API) and remembers
  // it; so does the baseline: the same requests, nothing more.
  let referrersApi: "unknown" | "absent" | "present" = "unknown";
  const referrers = async (repository: string, digest: string) => {
    if (referrersApi === "absent") return;
    const { res } = await plain(`${base}/v2/${repository}/referrers/${digest}`, "GET", MT.ociIndex);
    referrerStatuses[res.status] = (referrerStatuses[res.status] ?? 0) + 1;
    if (res.status !== 200 && res.status !== 404) throw new Error(`baseline: referrers of ${repository}@${digest} answered ${res.status}`);
    referrersApi = res.status === 404 ? "absent" : "present";
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let repositories: string[];
  try {
    repositories = await listPaged(`${base}/v2/_catalog?n=${PAGE_SIZE}`, "repositories");
    await mapLimit(repositories, conc.repo, async (repository) => {
      const tags = await listPaged(`${base}/v2/${repository}/tags/list?n=${PAGE_SIZE}`, "tags");
      const digests: string[] = [];
      await mapLimit(tags, conc.tag, async (tag) => {
        // A cold sync holds nothing of the repository yet, so it skips the HEAD and GETs each tag directly
        // (sync-registry.ts); the baseline makes the same requests.
        const got = await plain(`${base}/v2/${repository}/manifests/${tag}`, "GET", MANIFEST_ACCEPT);
        if (got.res.status !== 200) throw new Error(`baseline: GET ${repository}:${tag} answered ${got.res.status}`);
        const digest = got.res.headers.get("docker-content-digest") ?? "";
        const manifest = JSON.parse(got.body.toString("utf8")) as { config?: { digest?: string } };
        const configDigest = manifest.config?.digest;
        if (!configDigest) throw new Error(`baseline: ${repository}:${tag} has no config`);
        const cfg = await plain(`${base}/v2/${repository}/blobs/${configDigest}`, "GET");
        if (cfg.res.status !== 200) throw new Error(`baseline: config of ${repository}:${tag} answered ${cfg.res.status}`);
        JSON.parse(cfg.body.toString("utf8"));
        manifests++;
        if (order === "pipelined") await referrers(repository, digest);
        else digests.push(digest);
      });
      // The sync looks up referrers per image after all tags, one at a time (syncArtifacts in a for loop).
      for (const d of new Set(digests)) await referrers(repository, d);
    });
  } finally {
    counter.stop();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return {
    order,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    repositories: repositories.length,
    manifests,
    requests: counter.snapshot(),
    connections: counter.connectionsOpened,
    referrerStatuses,
  };
}

// ---------------------------------------------------------------------------------------------------------
// 2b. Baseline for the re-sync: a plain client listing the registry and HEADing every tag, nothing else

export type HeadTransport =
  /** Node's global fetch, as anyone would write it. undici closes the connection after every HEAD. */
  | "fetch"
  /** The same fetch with HEADs kept alive (the interceptor the sync's client uses): the plainest fast client. */
  | "fetch-keepalive";

interface HeadBaselineResult {
  transport: HeadTransport;
  ms: number;
  cpuMs: number;
  tags: number;
  requests: RequestCounts;
  connections: number;
}

async function headBaseline(registryUrl: string, transport: HeadTransport, conc: { repo: number; tag: number }): Promise<HeadBaselineResult> {
  const base = registryUrl.replace(/\/+$/, "");
  const dispatcher = transport === "fetch-keepalive" ? new Agent().compose(keepAliveHeads) : undefined;
  const counter = new RequestCounter(new URL(base).origin).start();
  let tags = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const repositories = await listPaged(`${base}/v2/_catalog?n=${PAGE_SIZE}`, "repositories");
    await mapLimit(repositories, conc.repo, async (repository) => {
      const list = await listPaged(`${base}/v2/${repository}/tags/list?n=${PAGE_SIZE}`, "tags");
      await mapLimit(list, conc.tag, async (tag) => {
        const url = `${base}/v2/${repository}/manifests/${tag}`;
        const init = { method: "HEAD", headers: { accept: MANIFEST_ACCEPT } };
        const res = dispatcher ? await undiciFetch(url, { ...init, dispatcher }) : await fetch(url, init);
        if (res.status !== 200 || !res.headers.get("docker-content-digest")) throw new Error(`head baseline: HEAD ${repository}:${tag} answered ${res.status}`);
        tags++;
      });
    });
  } finally {
    counter.stop();
    await dispatcher?.close();
  }
  const cpu = process.cpuUsage(cpu0);
  return {
    transport,
    ms: performance.now() - t0,
    cpuMs: (cpu.user + cpu.system) / 1000,
    tags,
    requests: counter.snapshot(),
    connections: counter.connectionsOpened,
  };
}

// ---------------------------------------------------------------------------------------------------------
// 3./4. Sync in a child process

function runSyncChild(env: NodeJS.ProcessEnv): Promise<SyncChildOutput & { processMs: number }> {
  return runBenchChild<SyncChildOutput>({
    root: ROOT,
    script: join(ROOT, "bench", "sync-child.ts"),
    env,
    marker: SYNC_RESULT_MARKER,
    log: (line) => process.stderr.write(`[sync-child] ${line}\n`),
  });
}

// ---------------------------------------------------------------------------------------------------------

export interface RegistrySyncFigures {
  benchmark: "registry-sync";
  finishedAt: string;
  environment: { node: string; platform: string; cpus: number; registry: string; benchScale: number };
  shape: { repositories: number; tagsPerRepository: number; manifests: number };
  concurrency: { fill: number; syncRepositories: number; syncTagsPerRepository: number; readFromSource: boolean };
  fill: { ms: number; imagesPerSecond: number; requests: number; requestsByKind: RequestCounts; connectionsOpened: number };
  baseline: {
    order: BaselineOrder;
    ms: number;
    /** Every run's time; `ms` is the fastest. */
    runsMs: number[];
    cpuMs: number;
    manifestsPerSecond: number;
    requests: number;
    requestsPerSecond: number;
    requestsByKind: RequestCounts;
    connectionsOpened: number;
    referrerStatuses: Record<string, number>;
  };
  baselinePipelined: { ms: number; runsMs: number[]; manifestsPerSecond: number; requests: number; requestsByKind: RequestCounts };
  /** The fastest of BASELINE_RUNS cold syncs, each into a fresh database, interleaved with the baselines. */
  coldSync: SyncFigures & { percentOfBaselineRate: number; percentOfPipelinedBaselineRate: number; newManifests: number; runsMs: number[] };
  resync: SyncFigures & { manifestBodiesFetched: number; percentOfColdSyncTime: number; runsMs: number[] };
  /** A plain client listing the registry and HEADing every tag, with the sync's concurrency. */
  headBaseline: {
    /** The faster of the two transports: the baseline of resync_vs_plain_head. */
    transport: HeadTransport;
    ms: number;
    manifestsPerSecond: number;
    fetch: { ms: number; runsMs: number[]; cpuMs: number; requests: number; requestsByKind: RequestCounts; connectionsOpened: number };
    fetchKeepAlive: { ms: number; runsMs: number[]; cpuMs: number; requests: number; requestsByKind: RequestCounts; connectionsOpened: number };
  };
  goals: { coldSyncAtLeastHalfBaselineRate: boolean; resyncFetchesNoManifestBody: boolean };
}

interface SyncFigures {
  /** Around syncRegistry() in the child. */
  ms: number;
  /** SyncResult.durationMs (the sync's own clock, from run start to finish). */
  durationMs: number;
  /** The whole child process, including Node start and module loading. */
  processMs: number;
  /** CPU time of the sync's process during the sync (the registry's and Postgres's are not included). */
  cpuMs: number;
  manifestsPerSecond: number;
  peakRssMiB: number;
  rssBeforeSyncMiB: number;
  requests: number;
  requestsByKind: RequestCounts;
  /** TCP connections opened to the registry. */
  connectionsOpened: number;
  manifestBodiesFetched: number;
  /** SQL statements sent through pg (Prisma's adapter), by leading keyword. */
  dbStatements: number;
  dbStatementsPerManifest: number;
  dbStatementsByKind: Record<string, number>;
  /** Summed statement latencies; statements overlap, so this may exceed the sync time. */
  dbSummedMs: number;
  result: SyncChildOutput["result"];
}

function syncFigures(o: SyncChildOutput & { processMs: number }, manifests: number): SyncFigures {
  return {
    ms: o.wallMs,
    durationMs: o.result.durationMs,
    processMs: o.processMs,
    cpuMs: o.cpuMs,
    manifestsPerSecond: manifests / (o.wallMs / 1000),
    peakRssMiB: o.peakRssBytes / MiB,
    rssBeforeSyncMiB: o.rssBeforeBytes / MiB,
    requests: totalRequests(o.requests),
    requestsByKind: o.requests,
    connectionsOpened: o.connections,
    manifestBodiesFetched: o.result.manifestBodiesFetched,
    dbStatements: o.queries.total,
    dbStatementsPerManifest: o.queries.total / manifests,
    dbStatementsByKind: o.queries.byKind,
    dbSummedMs: o.queries.summedMs,
    result: o.result,
  };
}

/** Problems that make the figures meaningless (the sync did not do what a sync of this registry must do). */
function checkSync(label: string, o: SyncChildOutput, expect: { repositories: number; tags: number; newManifests?: number }): string[] {
  const r = o.result;
  const problems: string[] = [];
  if (r.errors.length) problems.push(`${label}: ${r.errors.length} repository error(s), first: ${r.errors[0]!.repository}: ${r.errors[0]!.message}`);
  if (r.repositories !== expect.repositories) problems.push(`${label}: synced ${r.repositories} repositories, expected ${expect.repositories}`);
  if (r.tags !== expect.tags) problems.push(`${label}: saw ${r.tags} tags, expected ${expect.tags}`);
  if (expect.newManifests !== undefined && r.newManifests !== expect.newManifests)
    problems.push(`${label}: stored ${r.newManifests} new manifests, expected ${expect.newManifests}`);
  return problems;
}

const pct = (n: number) => `${n.toFixed(1)} %`;
const rate = (n: number) => `${n.toFixed(1)} manifests/s`;
const mib = (n: number) => `${n.toFixed(1)} MiB`;

function kinds(c: RequestCounts): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${fmtInt(v)}`)
    .join(", ");
}

export async function registrySyncBenchmark(opts: { scale: number }): Promise<BenchmarkReport<RegistrySyncFigures>> {
  const scale = opts.scale;
  const repoCount = Math.max(1, Math.round(FULL_REPOSITORIES * scale));
  const repositories = repositoryNames(repoCount);
  const manifests = repoCount * TAGS_PER_REPOSITORY;
  const conc = syncConcurrency();
  if (!conc.fromSource) log("could not read REPO_CONCURRENCY/TAG_CONCURRENCY from sync-registry.ts; the baseline uses 6 × 4");
  log(
    `${fmtInt(repoCount)} repositories × ${TAGS_PER_REPOSITORY} tags = ${fmtInt(manifests)} manifests (BENCH_SCALE=${scale}); sync concurrency ${conc.repo} × ${conc.tag}`,
  );

  let registry: RegistryHandle | undefined;
  let postgres: PostgresHandle | undefined;
  try {
    const keptDir = process.env.BENCH_SYNC_REGISTRY_DIR || undefined;
    registry = await startRegistry(keptDir ? { dir: keptDir } : {});
    log(`registry at ${registry.url} (${registryVersion()})${keptDir ? `, storage kept in ${keptDir}` : ""}`);

    const filled = await fillOrReuse(registry.url, repositories, keptDir);
    log(`fill: ${fmtInt(filled.images)} images in ${fmtMs(filled.ms)}, ${fmtInt(totalRequests(filled.requests))} requests`);

    postgres = await startPostgres({});
    const pgHandle = postgres;
    log(`postgres at 127.0.0.1:${postgres.port}`);
    const envFor = (url: string): NodeJS.ProcessEnv => {
      const e: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: url,
        REGISTRY_URL: registry!.url,
        IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
        IMPRIMATUR_WORKERS: "0",
      };
      delete e.REGISTRY_PULL_NAME;
      return e;
    };
    /** A fresh, migrated database for one cold sync. */
    const freshDatabase = async (i: number): Promise<string> => {
      const name = `bench_cold_${i}`;
      await pgHandle.createDatabase(name);
      const url = new URL(pgHandle.url);
      url.pathname = `/${name}`;
      await migrate(url.toString());
      return url.toString();
    };

    // Each baseline and the cold sync run BASELINE_RUNS times, interleaved (both baselines, then a cold sync into a
    // fresh database) so that each sees the same machine; the fastest run of each counts (the machine may be shared).
    const samples: Record<BaselineOrder, BaselineResult[]> = { "sync-order": [], pipelined: [] };
    const colds: { out: SyncChildOutput & { processMs: number }; env: NodeJS.ProcessEnv }[] = [];
    for (let i = 0; i < BASELINE_RUNS; i++) {
      for (const order of ["sync-order", "pipelined"] as const) {
        const b = await baseline(registry.url, order, conc);
        if (b.repositories !== repoCount || b.manifests !== manifests) {
          throw new Error(
            `baseline saw ${b.repositories} repositories and ${b.manifests} manifests; expected ${repoCount} and ${manifests} (registry not fresh?)`,
          );
        }
        samples[order].push(b);
        log(`baseline (${order}) run ${i + 1}/${BASELINE_RUNS}: ${fmtMs(b.ms)}, ${fmtInt(totalRequests(b.requests))} requests`);
      }
      const coldEnv = envFor(await freshDatabase(i));
      log(`cold sync ${i + 1}/${BASELINE_RUNS} (fresh database)…`);
      const out = await runSyncChild(coldEnv);
      colds.push({ out, env: coldEnv });
      log(`cold sync: ${fmtMs(out.wallMs)}, peak RSS ${mib(out.peakRssBytes / MiB)}`);
    }
    const fastest = (xs: BaselineResult[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const base = fastest(samples["sync-order"]);
    const piped = fastest(samples.pipelined);
    const coldRun = colds.reduce((a, b) => (b.out.wallMs < a.out.wallMs ? b : a));
    const cold = coldRun.out;
    // The re-syncs run against the database of the fastest cold sync.
    const env = coldRun.env;

    // The no-change re-syncs, interleaved with the plain HEAD baselines so that both see the same machine;
    // the fastest of each counts.
    const resyncs: (SyncChildOutput & { processMs: number })[] = [];
    const heads: Record<HeadTransport, HeadBaselineResult[]> = { fetch: [], "fetch-keepalive": [] };
    for (let i = 0; i < RESYNC_RUNS; i++) {
      for (const transport of ["fetch", "fetch-keepalive"] as const) {
        const h = await headBaseline(registry.url, transport, conc);
        if (h.tags !== manifests) throw new Error(`head baseline saw ${h.tags} tags, expected ${manifests}`);
        heads[transport].push(h);
        log(
          `head baseline (${transport}) run ${i + 1}/${RESYNC_RUNS}: ${fmtMs(h.ms)}, ${fmtInt(totalRequests(h.requests))} requests over ${fmtInt(h.connections)} connections`,
        );
      }
      log(`no-change re-sync ${i + 1}/${RESYNC_RUNS}…`);
      const r = await runSyncChild(env);
      resyncs.push(r);
      log(
        `re-sync: ${fmtMs(r.wallMs)}, ${r.result.manifestBodiesFetched} manifest bodies fetched, ${fmtInt(totalRequests(r.requests))} requests over ${fmtInt(r.connections)} connections`,
      );
    }
    const again = resyncs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
    const fastestHead = (xs: HeadBaselineResult[]) => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
    const headFetch = fastestHead(heads.fetch);
    const headKeepAlive = fastestHead(heads["fetch-keepalive"]);
    const head = headKeepAlive.ms < headFetch.ms ? headKeepAlive : headFetch;

    const problems = [
      ...colds.flatMap((c, i) => checkSync(`cold sync ${i + 1}`, c.out, { repositories: repoCount, tags: manifests, newManifests: manifests })),
      ...resyncs.flatMap((r, i) => checkSync(`re-sync ${i + 1}`, r, { repositories: repoCount, tags: manifests, newManifests: 0 })),
    ];

    const baselineRate = manifests / (base.ms / 1000);
    const pipedRate = manifests / (piped.ms / 1000);
    const headRate = manifests / (head.ms / 1000);
    const headFigures = (h: HeadBaselineResult, runs: HeadBaselineResult[]) => ({
      ms: h.ms,
      runsMs: runs.map((r) => r.ms),
      cpuMs: h.cpuMs,
      requests: totalRequests(h.requests),
      requestsByKind: h.requests,
      connectionsOpened: h.connections,
    });
    const coldF = syncFigures(cold, manifests);
    const againF = syncFigures(again, manifests);
    const figures: RegistrySyncFigures = {
      benchmark: "registry-sync",
      finishedAt: new Date().toISOString(),
      environment: {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        cpus: (await import("node:os")).availableParallelism(),
        registry: registryVersion(),
        benchScale: scale,
      },
      shape: { repositories: repoCount, tagsPerRepository: TAGS_PER_REPOSITORY, manifests },
      concurrency: { fill: FILL_CONCURRENCY, syncRepositories: conc.repo, syncTagsPerRepository: conc.tag, readFromSource: conc.fromSource },
      fill: {
        ms: filled.ms,
        imagesPerSecond: filled.ms ? filled.images / (filled.ms / 1000) : 0,
        requests: totalRequests(filled.requests),
        requestsByKind: filled.requests,
        connectionsOpened: filled.connections,
      },
      baseline: {
        order: base.order,
        ms: base.ms,
        runsMs: samples["sync-order"].map((b) => b.ms),
        cpuMs: base.cpuMs,
        manifestsPerSecond: baselineRate,
        requests: totalRequests(base.requests),
        requestsPerSecond: totalRequests(base.requests) / (base.ms / 1000),
        requestsByKind: base.requests,
        connectionsOpened: base.connections,
        referrerStatuses: base.referrerStatuses,
      },
      baselinePipelined: {
        ms: piped.ms,
        runsMs: samples.pipelined.map((b) => b.ms),
        manifestsPerSecond: pipedRate,
        requests: totalRequests(piped.requests),
        requestsByKind: piped.requests,
      },
      coldSync: {
        ...coldF,
        newManifests: cold.result.newManifests,
        percentOfBaselineRate: (coldF.manifestsPerSecond / baselineRate) * 100,
        percentOfPipelinedBaselineRate: (coldF.manifestsPerSecond / pipedRate) * 100,
        runsMs: colds.map((c) => c.out.wallMs),
      },
      resync: { ...againF, percentOfColdSyncTime: (again.wallMs / cold.wallMs) * 100, runsMs: resyncs.map((r) => r.wallMs) },
      headBaseline: {
        transport: head.transport,
        ms: head.ms,
        manifestsPerSecond: headRate,
        fetch: headFigures(headFetch, heads.fetch),
        fetchKeepAlive: headFigures(headKeepAlive, heads["fetch-keepalive"]),
      },
      goals: {
        coldSyncAtLeastHalfBaselineRate: (coldF.manifestsPerSecond / baselineRate) * 100 >= 50,
        resyncFetchesNoManifestBody: again.result.manifestBodiesFetched === 0,
      },
    };

    const f = figures;
    const rows: string[][] = [
      ["figure", "value", "note"],
      ["shape", `${fmtInt(repoCount)} repos × ${TAGS_PER_REPOSITORY} tags = ${fmtInt(manifests)} manifests`, `BENCH_SCALE=${scale}, ${f.environment.registry}`],
      ["fill time", fmtMs(f.fill.ms), `${f.fill.imagesPerSecond.toFixed(1)} images/s, ${fmtInt(f.fill.requests)} requests, concurrency ${FILL_CONCURRENCY}`],
      [
        "baseline time",
        fmtMs(f.baseline.ms),
        `fastest of ${BASELINE_RUNS}; plain fetch, no DB, ${conc.repo} repos × ${conc.tag} tags at once, sync's phase order`,
      ],
      [
        "baseline requests",
        fmtInt(f.baseline.requests),
        `${f.baseline.requestsPerSecond.toFixed(0)} req/s over ${fmtInt(f.baseline.connectionsOpened)} connections; referrers answered ${JSON.stringify(f.baseline.referrerStatuses)}`,
      ],
      ["baseline rate", rate(baselineRate), `client CPU ${fmtMs(f.baseline.cpuMs)}`],
      [
        "baseline, pipelined",
        fmtMs(f.baselinePipelined.ms),
        `fastest of ${BASELINE_RUNS}; ${rate(pipedRate)}; referrers asked in the tag workers, same limits`,
      ],
      [
        "cold sync time",
        fmtMs(coldF.ms),
        `fastest of ${colds.length} (${colds.map((c) => fmtMs(c.out.wallMs)).join(", ")}); SyncResult.durationMs ${fmtInt(coldF.durationMs)} ms; child process ${fmtMs(coldF.processMs)}`,
      ],
      ["cold sync rate", rate(coldF.manifestsPerSecond), `sync process CPU ${fmtMs(coldF.cpuMs)} (${pct((coldF.cpuMs / coldF.ms) * 100)} of a core)`],
      [
        "cold sync requests",
        fmtInt(coldF.requests),
        `over ${fmtInt(coldF.connectionsOpened)} connections; ${fmtInt(coldF.manifestBodiesFetched)} manifest bodies fetched`,
      ],
      [
        "cold sync / baseline",
        pct(f.coldSync.percentOfBaselineRate),
        `goal ≥ 50 %: ${f.goals.coldSyncAtLeastHalfBaselineRate ? "met" : "NOT met"}; vs pipelined baseline ${pct(f.coldSync.percentOfPipelinedBaselineRate)}`,
      ],
      [
        "cold sync SQL statements",
        fmtInt(coldF.dbStatements),
        `${coldF.dbStatementsPerManifest.toFixed(1)} per manifest; summed latency ${fmtMs(coldF.dbSummedMs)}`,
      ],
      ["cold sync peak RSS", mib(coldF.peakRssMiB), `child process VmHWM; ${mib(coldF.rssBeforeSyncMiB)} after module load`],
      [
        "re-sync time",
        fmtMs(againF.ms),
        `${pct(f.resync.percentOfColdSyncTime)} of the cold sync; CPU ${fmtMs(againF.cpuMs)}; ${fmtInt(againF.requests)} registry requests over ${fmtInt(againF.connectionsOpened)} connections`,
      ],
      [
        "plain HEAD baseline",
        fmtMs(f.headBaseline.ms),
        `fastest of ${RESYNC_RUNS} × 2 transports (${f.headBaseline.transport}); ${rate(headRate)}; list + HEAD every tag, ${conc.repo} repos × ${conc.tag} tags at once`,
      ],
      [
        "  with fetch",
        fmtMs(f.headBaseline.fetch.ms),
        `${fmtInt(f.headBaseline.fetch.requests)} requests over ${fmtInt(f.headBaseline.fetch.connectionsOpened)} connections (undici closes after each HEAD)`,
      ],
      [
        "  with kept-alive HEADs",
        fmtMs(f.headBaseline.fetchKeepAlive.ms),
        `${fmtInt(f.headBaseline.fetchKeepAlive.requests)} requests over ${fmtInt(f.headBaseline.fetchKeepAlive.connectionsOpened)} connections`,
      ],
      [
        "re-sync / plain HEAD",
        pct((againF.manifestsPerSecond / headRate) * 100),
        `re-sync rate ${rate(againF.manifestsPerSecond)}, fastest of ${RESYNC_RUNS}; goal ≥ 85 %`,
      ],
      ["re-sync manifest bodies", fmtInt(againF.manifestBodiesFetched), `goal 0: ${f.goals.resyncFetchesNoManifestBody ? "met" : "NOT met"}`],
      [
        "re-sync SQL statements",
        fmtInt(againF.dbStatements),
        `${againF.dbStatementsPerManifest.toFixed(1)} per manifest; summed latency ${fmtMs(againF.dbSummedMs)}`,
      ],
      ["re-sync peak RSS", mib(againF.peakRssMiB), ""],
    ];
    const details = [
      `requests, baseline:  ${kinds(f.baseline.requestsByKind)}`,
      `requests, cold sync: ${kinds(coldF.requestsByKind)}`,
      `requests, re-sync:   ${kinds(againF.requestsByKind)}`,
      `requests, fill:      ${kinds(f.fill.requestsByKind)}`,
      `SQL, cold sync:      ${kinds(coldF.dbStatementsByKind)}`,
      `SQL, re-sync:        ${kinds(againF.dbStatementsByKind)}`,
    ];
    details.push(`requests, plain HEAD (${f.headBaseline.transport}): ${kinds((head.transport === "fetch" ? headFetch : headKeepAlive).requests)}`);
    // The cold baseline is the faster of the two request orders: both send exactly the sync's requests.
    const plainColdRate = Math.max(baselineRate, pipedRate);
    const ratios: Record<string, RatioResult> = {
      sync_cold_vs_plain: {
        value: coldF.manifestsPerSecond / plainColdRate,
        goal: ">= 0.85",
        raw: {
          manifests,
          coldSyncMs: coldF.ms,
          coldSyncManifestsPerSecond: coldF.manifestsPerSecond,
          plainMs: Math.min(base.ms, piped.ms),
          plainManifestsPerSecond: plainColdRate,
          plainOrder: baselineRate >= pipedRate ? "sync-order" : "pipelined",
          coldSyncRequests: coldF.requests,
          plainRequests: totalRequests(base.requests),
        },
      },
      resync_vs_plain_head: {
        value: againF.manifestsPerSecond / headRate,
        goal: ">= 0.85",
        raw: {
          manifests,
          resyncMs: againF.ms,
          resyncManifestsPerSecond: againF.manifestsPerSecond,
          plainHeadMs: head.ms,
          plainHeadManifestsPerSecond: headRate,
          plainHeadTransport: head.transport,
          resyncRequests: againF.requests,
          resyncConnections: againF.connectionsOpened,
          plainHeadRequests: totalRequests(head.requests),
          plainHeadConnections: head.connections,
        },
      },
    };
    return { name: "registry-sync", title: "Registry sync", rows, details, figures, ratios, problems };
  } finally {
    await postgres?.stop().catch((e: unknown) => log(`stopping postgres: ${(e as Error).message}`));
    await registry?.destroy().catch((e: unknown) => log(`stopping registry: ${(e as Error).message}`));
  }
}

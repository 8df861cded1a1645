import "server-only";
import { bulkQuery, db, Prisma } from "../../db";
import { AppError } from "../../errors";
import type { RegistryClient } from "../../oci/client";
import { OciError } from "../../oci/digest";
import { requireRole, actorLabel, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { latestTrustChange, loadTrust, type LoadedTrust } from "../trust/load-trust";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { registryClient, resolveRegistry, type RegistryRow } from "../registries/resolve-registry";
import { finishRepository, readRepository, type RepositoryRead, type RepositorySyncOptions } from "./sync-repository";
import { SyncProgress } from "./sync-progress";
import { RepositoryStateLoader } from "./load-repository-state";
import { registryErrorToAppError } from "../registries/registry-error";
import { ReferrersApiMemo } from "../../oci/referrers";
import { jsonColumn, registryLastSyncInfoColumn, syncRunErrorsColumn, syncRunStatsColumn } from "../json-columns";
import { jsonParam } from "./manifest-rows";

/** Repositories synced at once, and tags HEADed at once within a repository. */
const REPO_CONCURRENCY = 6;
const TAG_CONCURRENCY = 4;

export interface SyncStats {
  repositories: number;
  tags: number;
  newManifests: number;
  manifestBodiesFetched: number;
  tagMoves: number;
  deleted: number;
  signaturesChecked: number;
  artifacts: number;
  /** Attestation / SBOM layers found in the registry that were not usable evidence. */
  evidenceErrors: number;
  pendingCompleted: number;
  durationMs: number;
}

export interface SyncResult extends SyncStats {
  registry: string;
  syncRunId: string;
  errors: { repository: string; message: string }[];
}

export interface SyncRegistryOptions {
  actor: Actor;
  /** Registry name; defaults to the only registry. */
  registry?: string | null;
  /** Limit the sync to these repositories (e.g. from a webhook). */
  repositories?: string[];
  trigger?: "manual" | "schedule" | "webhook" | "cli";
}

/** Runs a sync now, in this process (the CLI, the seed and tests); the UI queues one with enqueueSync. */
export async function syncRegistry({ actor, registry, repositories = [], trigger = "cli" }: SyncRegistryOptions): Promise<SyncResult> {
  requireRole(actor, ["admin", "reviewer", "developer", "manager"], "syncing");
  const reg = await resolveRegistry(registry);
  const started = Date.now();
  // Run here and now: the run is created running (no "queued" step for the job worker to pick up), with the
  // registry row just read, so starting it costs one INSERT (a raw one: no Prisma query to compile).
  const [run] = await bulkQuery<{ id: string }>(Prisma.sql`
    INSERT INTO sync_runs (id, registry_id, status, started_at, trigger, scope, requested_by)
    VALUES (gen_random_uuid(), ${reg.id}::uuid, 'running', ${new Date(started)}::timestamptz, ${trigger}, ${repositories}::text[], ${actorLabel(actor)})
    RETURNING id::text AS id`);
  return executeRun({ run: { id: run!.id, trigger, scope: repositories, registry: reg }, actor, started });
}

/**
 * Counts GETs of manifest bodies, so "a tag whose digest is unchanged costs no manifest body fetch" is
 * measurable. An observer, not a replacement fetch: the client's own transport (CA bundle, SSRF guard) stays.
 */
function countManifestGets(stats: SyncStats) {
  return (method: string, url: URL) => {
    if (method === "GET" && /\/manifests\/[^/]+$/.test(url.pathname)) stats.manifestBodiesFetched++;
  };
}

/**
 * Reads a registry through the Distribution API and stores what it holds: where every tag points (and every
 * move), manifests by digest, attached artifacts, and every cosign signature layer with its verdict. Each
 * repository's failure is stored on it and in the run; the rest of the sync goes on.
 */
/** Records how a run ended: the run's row, the registry's last-sync summary and the audit event, in one transaction. */
async function finishRun({
  run,
  actor,
  stats,
  errors,
  started,
  status,
  fatal,
}: {
  run: { id: string; trigger: string; scope: string[]; registry: { id: string; name: string } };
  actor: Actor;
  stats: SyncStats;
  errors: { repository: string; message: string }[];
  started: number;
  status: "succeeded" | "failed";
  fatal?: string;
}): Promise<SyncResult> {
  stats.durationMs = Date.now() - started;
  const result: SyncResult = { ...stats, registry: run.registry.name, syncRunId: run.id, errors };
  const runErrors = fatal ? [{ repository: "*", message: fatal }, ...errors] : errors;
  const runStats = jsonParam(jsonColumn(syncRunStatsColumn, stats));
  const lastSyncInfo = jsonParam(jsonColumn(registryLastSyncInfoColumn, { status, ...stats, errors: errors.length, fatal: fatal ?? null, syncRunId: run.id }));
  const now = new Date();
  await db.$transaction(async (tx) => {
    // The run's row and the registry's last-sync summary in one statement (a raw one: no query plan to compile).
    await tx.$executeRaw`
      WITH run AS (
        UPDATE sync_runs SET status = ${status}, finished_at = ${now}::timestamptz, stats = ${runStats}::jsonb, errors = ${jsonParam(jsonColumn(syncRunErrorsColumn, runErrors))}::jsonb
         WHERE id = ${run.id}::uuid RETURNING 1)
      UPDATE registries SET last_sync_at = ${now}::timestamptz, last_sync_info = ${lastSyncInfo}::jsonb WHERE id = ${run.registry.id}::uuid`;
    await appendAuditEvent(tx, {
      actor,
      action: "registry.sync",
      outcome: status === "succeeded" && errors.length === 0 ? "success" : "failure",
      target: run.registry.name,
      detail: {
        syncRunId: run.id,
        trigger: run.trigger,
        scope: run.scope,
        ...stats,
        errors: runErrors.slice(0, 20),
      },
    });
  });
  return result;
}

/** Runs a queued sync run (the job worker). */
export async function runSync({ syncRunId, actor }: { syncRunId: string; actor: Actor }): Promise<SyncResult> {
  const started = Date.now();
  const run = await db.syncRun.update({
    where: { id: syncRunId },
    data: { status: "running", startedAt: new Date(), reposDone: 0, errors: [] },
    include: { registry: true },
  });
  return executeRun({ run, actor, started });
}

async function executeRun({
  run,
  actor,
  started,
}: {
  run: { id: string; trigger: string; scope: string[]; registry: RegistryRow };
  actor: Actor;
  started: number;
}): Promise<SyncResult> {
  const syncRunId = run.id;
  const reg = run.registry;
  const stats: SyncStats = {
    repositories: 0,
    tags: 0,
    newManifests: 0,
    manifestBodiesFetched: 0,
    tagMoves: 0,
    deleted: 0,
    signaturesChecked: 0,
    artifacts: 0,
    evidenceErrors: 0,
    pendingCompleted: 0,
    durationMs: 0,
  };
  const errors: { repository: string; message: string }[] = [];
  const finish = (status: "succeeded" | "failed", fatal?: string) => finishRun({ run, actor, stats, errors, started, status, fatal });

  let client: RegistryClient;
  let names: string[];
  try {
    client = registryClient(reg, "read", { onRequest: countManifestGets(stats) });
    names = await listRepositories(client, reg, run.scope);
  } catch (e) {
    const message = e instanceof OciError || e instanceof AppError ? e.message : "internal error";
    if (!(e instanceof OciError) && !(e instanceof AppError)) console.error("[sync]", e);
    await finish("failed", `listing repositories: ${message}`);
    const what = `listing repositories of ${reg.name}`;
    // A catalog that answers 404 is the registry's shortcoming (no _catalog), not a resource the caller named.
    throw e instanceof OciError && e.code === "NOT_FOUND" ? new AppError("REGISTRY_ERROR", `${what}: ${e.message}`) : registryErrorToAppError(e, what);
  }
  // The first repositories' stored state is asked for before anything else, so that it takes the pool's warm
  // connection: the first workers wait for it, while the run's total below can wait for a connection.
  const states = new RepositoryStateLoader(reg.id, names);
  states.prefetch();
  // Written while the repositories are read (awaited before the run ends; its failure still fails the run).
  const reposTotal = bulkQuery(Prisma.sql`UPDATE sync_runs SET repos_total = ${names.length}::int WHERE id = ${syncRunId}::uuid`);
  reposTotal.catch(() => {});

  // Learnt once per run: a registry without the referrers API is asked once, not once per image.
  const referrersApi = new ReferrersApiMemo();
  const progress = new SyncProgress(syncRunId, reg.id, errors);
  await syncRepositories({
    names,
    progress,
    errors,
    base: { client, reg, stats, trust: lazyTrust(), referrersApi, tagConcurrency: TAG_CONCURRENCY, states },
  });
  // Approvals of this registry's images still waiting for their signature push (rare): looked for with one raw
  // statement (alongside the last progress batch), and completed only when there are some.
  const [, , pending] = await Promise.all([progress.flush(), reposTotal, hasPendingSignatures(reg.id)]);
  if (pending) stats.pendingCompleted = (await completePendingSignatures({ actor, registryId: reg.id })).completed;
  return finish("succeeded");
}

/**
 * REPO_CONCURRENCY workers, each taking the next repository. A worker reads a repository from the registry, then
 * starts its database write and goes on to read the next one while the write runs: the registry and Postgres
 * work at the same time instead of in turns. At most one write per worker is in flight (it is awaited before the
 * worker starts the next), so repositories held in memory stay bounded. A failure in either phase is that
 * repository's error; the rest of the sync goes on.
 */
async function syncRepositories(opts: {
  names: string[];
  progress: SyncProgress;
  errors: { repository: string; message: string }[];
  base: Omit<RepositorySyncOptions, "repository">;
}): Promise<void> {
  const { names, progress, errors, base } = opts;
  const failed = async (repository: string, e: unknown) => {
    if (!(e instanceof OciError) && !(e instanceof AppError)) console.error(`[sync] ${base.reg.name}/${repository}`, e);
    const message = e instanceof OciError || e instanceof AppError ? e.message : "internal error while syncing this repository";
    errors.push({ repository, message });
    await progress.failed(repository, message);
  };
  const finished = async (repository: string, read: RepositoryRead) => {
    let seen: string[];
    try {
      seen = (await finishRepository(read)).seen;
    } catch (e) {
      await failed(repository, e);
      return;
    }
    base.stats.repositories++;
    await progress.succeeded(repository, seen);
  };
  let next = 0;
  const worker = async () => {
    let writing: Promise<void> = Promise.resolve();
    while (next < names.length) {
      const repository = names[next++]!;
      let read: RepositoryRead;
      try {
        read = await readRepository({ ...base, repository });
      } catch (e) {
        await failed(repository, e);
        continue;
      }
      await writing;
      writing = finished(repository, read);
      // Handled here so that a failure is not reported as unhandled while the worker reads the next repository;
      // it is still thrown by the `await writing` that follows.
      writing.catch(() => {});
    }
    await writing;
  };
  await Promise.all(Array.from({ length: Math.min(REPO_CONCURRENCY, names.length) }, worker));
}

async function hasPendingSignatures(registryId: string): Promise<boolean> {
  const rows = await bulkQuery<{ pending: boolean }>(Prisma.sql`
    SELECT EXISTS (
      SELECT 1 FROM approvals a JOIN images i ON i.id = a.image_id JOIN repositories r ON r.id = i.repository_id
       WHERE a.status = 'signing' AND a.revoked_at IS NULL AND r.registry_id = ${registryId}::uuid) AS pending`);
  return rows[0]?.pending === true;
}

/**
 * The trust and its last change, read once per run when a signature first needs them (a run over unsigned images
 * reads neither). A failed read is not kept: the next signature asks again.
 */
function lazyTrust(): () => Promise<{ trust: LoadedTrust; epoch: Date }> {
  let loading: Promise<{ trust: LoadedTrust; epoch: Date }> | undefined;
  return () =>
    (loading ??= Promise.all([loadTrust(), latestTrustChange()]).then(
      ([trust, epoch]) => ({ trust, epoch }),
      (e: unknown) => {
        loading = undefined;
        throw e;
      },
    ));
}

async function listRepositories(client: RegistryClient, reg: RegistryRow, scope: string[]): Promise<string[]> {
  if (scope.length) return scope;
  // Registries without _catalog (GHCR, ECR, Docker Hub) are configured with an explicit list.
  if (reg.repositoryList.length) return reg.repositoryList;
  const names: string[] = [];
  for await (const r of client.catalog()) names.push(r);
  return names;
}

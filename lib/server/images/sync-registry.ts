import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { cosignTag, isArtifactTag } from "../../oci/reference";
import { requireRole, actorLabel, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { latestTrustChange, loadTrust, type LoadedTrust } from "../trust/load-trust";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { registryClient, resolveRegistry, type RegistryRow } from "../registries/resolve-registry";
import { ensureRepository } from "../registries/ensure-repository";
import { storeManifest } from "./store-manifest";
import { refreshSignatures } from "./refresh-signatures";
import { syncArtifacts } from "./sync-artifacts";
import { SyncProgress } from "./sync-progress";
import { registryErrorToAppError } from "../registries/registry-error";
import { ReferrersApiMemo } from "../../oci/referrers";
import { jsonColumn, registryLastSyncInfoColumn, syncRunErrorsColumn, syncRunStatsColumn } from "../json-columns";

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
  const run = await db.syncRun.create({ data: { registryId: reg.id, status: "queued", trigger, scope: repositories, requestedBy: actorLabel(actor) } });
  return runSync({ syncRunId: run.id, actor });
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  });
  await Promise.all(workers);
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
export async function runSync({ syncRunId, actor }: { syncRunId: string; actor: Actor }): Promise<SyncResult> {
  const started = Date.now();
  const run = await db.syncRun.update({ where: { id: syncRunId }, data: { status: "running", startedAt: new Date(), reposDone: 0, errors: [] }, include: { registry: true } });
  const reg = run.registry;
  const stats: SyncStats = { repositories: 0, tags: 0, newManifests: 0, manifestBodiesFetched: 0, tagMoves: 0, deleted: 0, signaturesChecked: 0, artifacts: 0, evidenceErrors: 0, pendingCompleted: 0, durationMs: 0 };
  const errors: { repository: string; message: string }[] = [];
  const finish = async (status: "succeeded" | "failed", fatal?: string) => {
    stats.durationMs = Date.now() - started;
    const result: SyncResult = { ...stats, registry: reg.name, syncRunId, errors };
    await db.$transaction(async (tx) => {
      await tx.syncRun.update({ where: { id: syncRunId }, data: { status, finishedAt: new Date(), stats: jsonColumn(syncRunStatsColumn, stats), errors: jsonColumn(syncRunErrorsColumn, fatal ? [{ repository: "*", message: fatal }, ...errors] : errors) } });
      await tx.registry.update({ where: { id: reg.id }, data: { lastSyncAt: new Date(), lastSyncInfo: jsonColumn(registryLastSyncInfoColumn, { status, ...stats, errors: errors.length, fatal: fatal ?? null, syncRunId }) } });
      await appendAuditEvent(tx, {
        actor,
        action: "registry.sync",
        outcome: status === "succeeded" && errors.length === 0 ? "success" : "failure",
        target: reg.name,
        detail: { syncRunId, trigger: run.trigger, scope: run.scope, ...stats, errors: (fatal ? [{ repository: "*", message: fatal }, ...errors] : errors).slice(0, 20) },
      });
    });
    return result;
  };

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
  await db.syncRun.update({ where: { id: syncRunId }, data: { reposTotal: names.length } });

  const trust = await loadTrust();
  const trustEpoch = await latestTrustChange();
  // Learnt once per run: a registry without the referrers API is asked once, not once per image.
  const referrersApi = new ReferrersApiMemo();
  const progress = new SyncProgress(syncRunId, reg.id, errors);
  await mapLimit(names, REPO_CONCURRENCY, async (repository) => {
    try {
      await syncRepository({ client, reg, repository, stats, trust, trustEpoch, referrersApi });
    } catch (e) {
      if (!(e instanceof OciError) && !(e instanceof AppError)) console.error(`[sync] ${reg.name}/${repository}`, e);
      const message = e instanceof OciError || e instanceof AppError ? e.message : "internal error while syncing this repository";
      errors.push({ repository, message });
      await progress.failed(repository, message);
      return;
    }
    stats.repositories++;
    await progress.succeeded(repository);
  });
  await progress.flush();

  stats.pendingCompleted = (await completePendingSignatures({ actor, registryId: reg.id })).completed;
  return finish("succeeded");
}

async function listRepositories(client: RegistryClient, reg: RegistryRow, scope: string[]): Promise<string[]> {
  if (scope.length) return scope;
  // Registries without _catalog (GHCR, ECR, Docker Hub) are configured with an explicit list.
  if (reg.repositoryList.length) return reg.repositoryList;
  const names: string[] = [];
  for await (const r of client.catalog()) names.push(r);
  return names;
}

/** Tags gone from the registry: deleted, each with its "moved to nothing" event. */
async function removeVanishedTags({ repositoryId, existing, imageTags, now, stats }: { repositoryId: string; existing: Map<string, { id: string; digest: string }>; imageTags: string[]; now: Date; stats: SyncStats }) {
  const current = new Set(imageTags);
  for (const [name, t] of existing) {
    if (current.has(name)) continue;
    await db.$transaction([
      db.tag.delete({ where: { id: t.id } }),
      db.tagEvent.create({ data: { repositoryId, tag: name, fromDigest: t.digest, toDigest: null, seenAt: now } }),
    ]);
    stats.tagMoves++;
  }
}

/** Untagged digests whose HEAD answers 404 are marked deleted, with their platform manifests (history kept). */
async function markUntaggedDeleted({ client, repositoryId, repository, images, tagged, now, stats }: { client: RegistryClient; repositoryId: string; repository: string; images: { id: string; digest: string }[]; tagged: Set<string>; now: Date; stats: SyncStats }) {
  for (const img of images) {
    if (tagged.has(img.digest)) continue;
    const head = await client.headManifest(repository, img.digest);
    if (!head) {
      await db.image.updateMany({ where: { repositoryId, OR: [{ id: img.id }, { parentDigest: img.digest }] }, data: { deletedAt: now } });
      stats.deleted++;
    }
  }
}

async function syncRepository(opts: { client: RegistryClient; reg: RegistryRow; repository: string; stats: SyncStats; trust: LoadedTrust; trustEpoch: Date; referrersApi: ReferrersApiMemo }) {
  const { client, reg, repository, stats } = opts;
  const repo = await ensureRepository(reg.id, repository);
  const all: string[] = [];
  for await (const t of client.tags(repository)) all.push(t);
  const imageTags = all.filter((t) => !isArtifactTag(t));
  const existing = new Map((await db.tag.findMany({ where: { repositoryId: repo.id } })).map((t) => [t.name, t]));
  // One query for what we already hold, instead of one per tag; "last seen" is written once per repository.
  const held = new Map((await db.image.findMany({ where: { repositoryId: repo.id }, select: { id: true, digest: true, deletedAt: true } })).map((i) => [i.digest, i]));
  const seen = new Set<string>();
  const now = new Date();
  // New tags and their first events are written in one statement each per repository.
  const newTags: { repositoryId: string; name: string; digest: string }[] = [];
  const newEvents: { repositoryId: string; tag: string; fromDigest: null; toDigest: string; seenAt: Date }[] = [];

  await mapLimit(imageTags, TAG_CONCURRENCY, async (tag) => {
    // A HEAD gives the digest; an unchanged tag costs no manifest body fetch. In a repository we hold nothing of
    // yet, every tag needs its body anyway, so the HEAD is skipped.
    let digest: string | null = null;
    if (held.size > 0) {
      const head = await client.headManifest(repository, tag);
      if (!head) return; // deleted between the listing and now
      digest = head.digest;
    }
    const known = digest ? held.get(digest) : undefined;
    if (!known || !digest) {
      let fetched;
      try {
        fetched = await client.getManifest(repository, tag);
      } catch (e) {
        if (e instanceof OciError && e.code === "NOT_FOUND") return; // deleted between the listing and now
        throw e;
      }
      digest = fetched.digest;
      const already = held.get(fetched.digest);
      if (already) {
        seen.add(already.id);
      } else {
        const stored = await storeManifest({ client, repositoryId: repo.id, repository, digest: fetched.digest, fetched, absent: true });
        if (stored.created) stats.newManifests++;
      }
    } else {
      seen.add(known.id);
      if (known.deletedAt) await db.image.update({ where: { id: known.id }, data: { deletedAt: null } });
    }
    const prev = existing.get(tag);
    if (!prev) {
      newTags.push({ repositoryId: repo.id, name: tag, digest });
      newEvents.push({ repositoryId: repo.id, tag, fromDigest: null, toDigest: digest, seenAt: now });
    } else if (prev.digest !== digest) {
      await db.$transaction([
        db.tag.update({ where: { id: prev.id }, data: { digest, updatedAt: now } }),
        db.tagEvent.create({ data: { repositoryId: repo.id, tag, fromDigest: prev.digest, toDigest: digest, seenAt: now } }),
      ]);
      stats.tagMoves++;
    }
    stats.tags++;
  });

  if (newTags.length) {
    await db.$transaction([db.tag.createMany({ data: newTags, skipDuplicates: true }), db.tagEvent.createMany({ data: newEvents })]);
  }
  if (seen.size) await db.image.updateMany({ where: { id: { in: [...seen] } }, data: { lastSeenAt: now } });
  await removeVanishedTags({ repositoryId: repo.id, existing, imageTags, now, stats });

  // A digest no tag points to may still be in the registry (untagged but pulled by digest): only a HEAD
  // by digest that answers 404 marks it deleted. Its history and approvals are kept.
  const tagged = new Set((await db.tag.findMany({ where: { repositoryId: repo.id }, select: { digest: true } })).map((t) => t.digest));
  const images = await db.image.findMany({
    where: { repositoryId: repo.id, parentDigest: null, deletedAt: null },
    select: { id: true, digest: true, sigCheckedAt: true, _count: { select: { signatures: true, approvals: true } } },
  });
  await markUntaggedDeleted({ client, repositoryId: repo.id, repository, images, tagged, now, stats });

  const live = images.filter((i) => tagged.has(i.digest) || i._count.approvals > 0);
  await syncAccessories({ ...opts, live, tagSet: new Set(all) });
}

/**
 * The accessories of each live image (tagged, or with approvals): artifacts and evidence, then its signatures,
 * verified again only when they changed, the trust changed since, or they disappeared.
 */
async function syncAccessories(opts: {
  client: RegistryClient;
  repository: string;
  stats: SyncStats;
  trust: LoadedTrust;
  trustEpoch: Date;
  referrersApi: ReferrersApiMemo;
  live: { id: string; digest: string; sigCheckedAt: Date | null; _count: { signatures: number } }[];
  tagSet: Set<string>;
}) {
  const { client, repository, stats, live, tagSet } = opts;
  const knownArtifacts = await db.artifact.findMany({ where: { imageId: { in: live.map((i) => i.id) } } });
  for (const img of live) {
    const { sigManifestChanged, signatureReferrersChanged, signatureReferrers, count, evidenceErrors } = await syncArtifacts({ client, imageId: img.id, repository, digest: img.digest as Digest, tags: tagSet, known: knownArtifacts.filter((a) => a.imageId === img.id), referrersApi: opts.referrersApi });
    stats.artifacts += count;
    stats.evidenceErrors += evidenceErrors;
    const hasSig = tagSet.has(cosignTag(img.digest as Digest, "sig"));
    const stale = !img.sigCheckedAt || img.sigCheckedAt < opts.trustEpoch;
    const hasSignatures = hasSig || signatureReferrers > 0;
    if ((hasSig && sigManifestChanged) || signatureReferrersChanged || (hasSignatures && stale) || (!hasSignatures && img._count.signatures > 0)) {
      const r = await refreshSignatures({ client, imageId: img.id, repository, digest: img.digest as Digest, trust: opts.trust });
      stats.signaturesChecked += r.total;
    }
  }
}

import "server-only";
import { db } from "../../db";
import { OciError, type Digest } from "../../oci/digest";
import { cosignTag, isArtifactTag } from "../../oci/reference";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { registryClient, resolveRegistry, toAppError } from "../registries/resolve-registry";
import { storeManifest } from "./store-manifest";
import { ensureRepository } from "../registries/ensure-repository";
import { refreshSignatures } from "./refresh-signatures";

export interface SyncRegistryOptions {
  actor: Actor;
  /** Registry name; defaults to the only registry. */
  registry?: string | null;
  /** Limit the sync to these repositories (e.g. from a webhook). */
  repositories?: string[];
}

export interface SyncResult {
  registry: string;
  repositories: number;
  tags: number;
  newManifests: number;
  signaturesChecked: number;
  pendingCompleted: number;
  errors: { repository: string; message: string }[];
  durationMs: number;
}

/**
 * Reads the registry through the Distribution API and stores what it holds: repositories, where each tag
 * points, manifests by digest, and every cosign signature layer with its verdict.
 */
export async function syncRegistry({ actor, registry: name, repositories }: SyncRegistryOptions): Promise<SyncResult> {
  requireRole(actor, ["admin", "reviewer", "developer", "manager"], "syncing");
  const started = Date.now();
  const reg = await resolveRegistry(name);
  const client = registryClient(reg);
  const trustedKeys = await loadTrustedKeys();
  const result: SyncResult = { registry: reg.name, repositories: 0, tags: 0, newManifests: 0, signaturesChecked: 0, pendingCompleted: 0, errors: [], durationMs: 0 };

  let names: string[];
  try {
    names = repositories ?? [];
    if (!repositories) for await (const r of client.catalog()) names.push(r);
  } catch (e) {
    throw toAppError(e, `listing repositories of ${reg.name}`);
  }

  for (const repository of names) {
    try {
      const repo = await ensureRepository(reg.id, repository);
      const all: string[] = [];
      for await (const t of client.tags(repository)) all.push(t);
      const sigTags = new Set(all.filter((t) => t.endsWith(".sig")));
      const imageTags = all.filter((t) => !isArtifactTag(t));
      const existing = new Map((await db.tag.findMany({ where: { repositoryId: repo.id } })).map((t) => [t.name, t]));
      for (const tag of imageTags) {
        // A HEAD tells us the digest; an unchanged tag costs no manifest body fetch.
        const head = await client.headManifest(repository, tag);
        if (!head) continue;
        let digest = head.digest;
        const known = digest ? await db.image.findUnique({ where: { repositoryId_digest: { repositoryId: repo.id, digest } }, select: { id: true } }) : null;
        if (!known || !digest) {
          const fetched = await client.getManifest(repository, tag);
          digest = fetched.digest;
          const stored = await storeManifest({ client, repositoryId: repo.id, repository, digest, fetched });
          if (stored.created) result.newManifests++;
        }
        const prev = existing.get(tag);
        if (!prev) await db.tag.create({ data: { repositoryId: repo.id, name: tag, digest } });
        else if (prev.digest !== digest) await db.tag.update({ where: { id: prev.id }, data: { digest, updatedAt: new Date() } });
        result.tags++;
      }
      const gone = [...existing.keys()].filter((t) => !imageTags.includes(t));
      if (gone.length) await db.tag.deleteMany({ where: { repositoryId: repo.id, name: { in: gone } } });

      const images = await db.image.findMany({
        where: { repositoryId: repo.id },
        select: { id: true, digest: true, _count: { select: { signatures: true } } },
      });
      for (const img of images) {
        const hasSigTag = sigTags.has(cosignTag(img.digest as Digest, "sig"));
        if (!hasSigTag && img._count.signatures === 0) continue;
        const r = await refreshSignatures({ client, imageId: img.id, repository, digest: img.digest as Digest, trustedKeys });
        result.signaturesChecked += r.total;
      }
      result.repositories++;
    } catch (e) {
      if (!(e instanceof OciError)) throw e;
      result.errors.push({ repository, message: e.message });
    }
  }

  result.pendingCompleted = (await completePendingSignatures({ actor, registryId: reg.id })).completed;
  result.durationMs = Date.now() - started;
  await db.$transaction(async (tx) => {
    await tx.registry.update({ where: { id: reg.id }, data: { lastSyncAt: new Date(), lastSyncInfo: result as unknown as object } });
    await appendAuditEvent(tx, {
      actor,
      action: "registry.sync",
      outcome: result.errors.length ? "failure" : "success",
      target: reg.name,
      detail: { repositories: result.repositories, tags: result.tags, newManifests: result.newManifests, errors: result.errors.slice(0, 20) },
    });
  });
  return result;
}

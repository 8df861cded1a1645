import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { OciError, type Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { removeReferrer } from "../../oci/push-referrer";
import { cosignTag } from "../../oci/reference";
import { removeSignatureLayers } from "../../signing/formats/sig-manifest";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { refreshSignatures } from "../images/refresh-signatures";
import { registryClient, toAppError } from "../registries/resolve-registry";
import { lockReferrers, lockSignatureManifest, readSigManifest } from "./signature-manifest-io";
import { removeVerificationSummary } from "./push-verification-summary";

const MAX_ROUNDS = 5;

export interface RemoveRevokedSignaturesOptions {
  /** The image whose pending revocations are carried out (all of them, in one `.sig` rewrite). */
  imageId: string;
  actor: Actor;
}

export interface RemovalOutcome {
  approvals: { approvalId: string; state: "pending" | "removed"; error: string | null }[];
  /** Registry writes made: manifest PUTs and deletions (for the bulk revocation's round-trip figures). */
  writes: number;
}

type SigClient = ReturnType<typeof registryClient>;

/**
 * Rewrites the `.sig` manifest without the given layers, under its lock. `onWrite` counts each manifest PUT as it
 * happens, so the count stays right when a later round fails.
 */
async function dropRevokedLayers({
  client,
  registryId,
  repository,
  digest,
  tag,
  drop,
  onWrite,
}: {
  client: SigClient;
  registryId: string;
  repository: string;
  digest: Digest;
  tag: string;
  drop: string[];
  onWrite: () => void;
}) {
  await db.$transaction(
    async (tx) => {
      await lockSignatureManifest(tx, registryId, repository, digest);
      for (let round = 0; ; round++) {
        const current = await readSigManifest(client, repository, tag);
        if (!current.manifest) break;
        const next = removeSignatureLayers({ existing: current.manifest, existingConfig: current.config, remove: drop });
        if (!next) break;
        if (round >= MAX_ROUNDS)
          throw new AppError("REGISTRY_ERROR", `revoked signature layers still present after ${MAX_ROUNDS} writes; another writer keeps restoring ${tag}`);
        await client.putBlob(repository, next.config);
        await client.putManifest(repository, tag, next.manifest, MT.ociManifest);
        onWrite();
      }
    },
    { timeout: 120_000, maxWait: 60_000 },
  );
}

/** Marks each still-pending revocation "removed", deletes its signature and bundle rows, and audits each one. */
async function recordRemovals({
  imageId,
  actor,
  digest,
  target,
  tag,
  pending,
  bundles,
}: {
  imageId: string;
  actor: Actor;
  digest: Digest;
  target: string;
  tag: string;
  pending: { id: string; layerDigest: string; stage: { name: string } }[];
  bundles: { approvalId: string; artifactDigest: string }[];
}) {
  await db.$transaction(async (tx) => {
    for (const p of pending) {
      const bundle = bundles.find((b) => b.approvalId === p.id);
      // Only rows still pending: a bundle recorded meanwhile set it back to pending and is handled on the next pass.
      const done = await tx.approval.updateMany({
        where: { id: p.id, revocationState: "pending" },
        data: { revocationState: "removed", revocationError: null },
      });
      if (done.count === 0) continue;
      await tx.signature.deleteMany({ where: { imageId, layerDigest: { in: [p.layerDigest, ...(bundle ? [bundle.artifactDigest] : [])] } } });
      if (bundle) await tx.artifact.deleteMany({ where: { imageId, digest: bundle.artifactDigest } });
      await appendAuditEvent(tx, {
        actor,
        action: "approval.revoke.registry",
        targetDigest: digest,
        target,
        detail: { approvalId: p.id, stage: p.stage.name, removedLayer: p.layerDigest, tag, ...(bundle ? { removedBundle: bundle.artifactDigest } : {}) },
      });
    }
  });
}

/**
 * The referrer manifests holding the revoked approvals' bundles: the ones pushed, and any other manifest the last sync
 * found around the same bundle blob (attaching a saved bundle again writes a new manifest; refreshSignatures reopens
 * the revocation when it sees one).
 */
async function bundleReferrers(imageId: string, bundles: { artifactDigest: string; bundleDigest: string }[]): Promise<string[]> {
  if (bundles.length === 0) return [];
  const again = await db.signature.findMany({
    where: { imageId, layerDigest: { in: bundles.map((b) => b.bundleDigest) }, artifactDigest: { not: null } },
    select: { artifactDigest: true },
  });
  return [...new Set([...bundles.map((b) => b.artifactDigest), ...again.map((s) => s.artifactDigest!)])];
}

/**
 * Carries out an image's pending revocations in the registry: under the per-digest `.sig` lock the push takes, the
 * revoked stage layers are dropped from the cosign `.sig` manifest (every other layer descriptor kept byte-for-byte,
 * `rootfs.diff_ids` and `history` kept consistent with the layers) and the manifest read back; then each revoked
 * approval's Sigstore bundle referrer is unlisted and deleted. Only then are the revocations marked "removed". A
 * registry that is down or refuses leaves them "pending" with the error, for the scheduler tick to retry; verify and
 * ImageReview deny a revoked approval either way. Idempotent.
 */
export async function removeRevokedSignatures({ imageId, actor }: RemoveRevokedSignaturesOptions): Promise<RemovalOutcome> {
  const image = await db.image.findUnique({ where: { id: imageId }, include: { repository: { include: { registry: true } } } });
  if (!image) throw new AppError("NOT_FOUND", "no such image");
  const pending = await db.approval.findMany({
    where: { imageId, revokedAt: { not: null }, revocationState: "pending" },
    select: { id: true, layerDigest: true, stage: { select: { name: true } } },
  });
  if (pending.length === 0) return { approvals: [], writes: 0 };
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest as Digest;
  const target = `${registry.name}/${repository}`;
  const client = registryClient(registry, "push");
  const tag = cosignTag(digest, "sig");
  const ids = pending.map((p) => p.id);
  let writes = 0;

  try {
    // 1. The stage layers, under the lock every `.sig` writer takes.
    await dropRevokedLayers({ client, registryId: registry.id, repository, digest, tag, drop: pending.map((p) => p.layerDigest), onWrite: () => writes++ });
    // 2. The Sigstore bundle referrers (the referrers fallback tag has its own lock).
    const bundles = await db.stageBundle.findMany({
      where: { approvalId: { in: ids } },
      select: { approvalId: true, artifactDigest: true, bundleDigest: true },
    });
    for (const referrer of await bundleReferrers(imageId, bundles)) {
      const r = await removeReferrer({
        client,
        repository,
        subjectDigest: digest,
        digest: referrer as Digest,
        lock: (fn) =>
          db.$transaction(
            async (tx) => {
              await lockReferrers(tx, registry.id, repository, digest);
              return fn();
            },
            { timeout: 120_000, maxWait: 60_000 },
          ),
      });
      writes += Number(r.unlisted) + Number(r.deleted);
    }
    // 2b. The SLSA verification summaries (`.att` layer and bundle referrer) said "gates passed": gone with the approval.
    for (const p of pending) await removeVerificationSummary({ approvalId: p.id, actor });
    // 3. Recorded as done, with what was removed.
    await recordRemovals({ imageId, actor, digest, target, tag, pending, bundles });
  } catch (e) {
    const err = toAppError(e, `removing revoked signatures from ${registry.name}`);
    if (!(err instanceof AppError) || !["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR", "NOT_FOUND"].includes(err.code)) throw err;
    await db.$transaction(async (tx) => {
      await tx.approval.updateMany({ where: { id: { in: ids } }, data: { revocationError: err.message, attempts: { increment: 1 } } });
      await appendAuditEvent(tx, {
        actor,
        action: "approval.revoke.registry",
        outcome: "failure",
        targetDigest: digest,
        target,
        detail: { approvalIds: ids, error: err.message },
      });
    });
    return { approvals: ids.map((id) => ({ approvalId: id, state: "pending" as const, error: err.message })), writes };
  }

  // Show the chain without the removed signatures now; a registry hiccup here only delays that to the next sync.
  try {
    await refreshSignatures({ client: registryClient(registry), imageId, repository, digest });
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
  }
  const after = await db.approval.findMany({ where: { id: { in: ids } }, select: { id: true, revocationState: true, revocationError: true } });
  return {
    approvals: after.map((a) => ({
      approvalId: a.id,
      state: a.revocationState === "removed" ? ("removed" as const) : ("pending" as const),
      error: a.revocationError,
    })),
    writes,
  };
}

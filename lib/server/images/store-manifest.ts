import "server-only";
import { db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { indexPlatforms, parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";

const MAX_INDEX_CHILDREN = 64;

/**
 * Fetches (unless given) and stores one manifest by digest. For an index, each platform manifest is
 * stored too, marked with its parent. Known digests cost nothing: manifests are immutable.
 */
export async function storeManifest(opts: {
  client: RegistryClient;
  repositoryId: string;
  repository: string;
  digest: Digest;
  parentDigest?: string | null;
  fetched?: { bytes: Buffer; mediaType: string };
  /** The caller already knows the digest is not stored (saves a lookup per manifest in a sync). */
  absent?: boolean;
}): Promise<{ id: string; created: boolean }> {
  const { client, repositoryId, repository, digest } = opts;
  const known = opts.absent ? null : await db.image.findUnique({ where: { repositoryId_digest: { repositoryId, digest } }, select: { id: true } });
  if (known) {
    await db.image.update({ where: { id: known.id }, data: { lastSeenAt: new Date() } });
    return { id: known.id, created: false };
  }
  const fetched = opts.fetched ?? (await client.getManifest(repository, digest));
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  let os: string | null = null;
  let architecture: string | null = null;
  let variant: string | null = null;
  let configDigest: string | null = null;
  let platforms: object | undefined;
  let configCreated: Date | null = null;
  let labels: object | undefined;
  let history: object | undefined;
  if (parsed.kind === "manifest") {
    configDigest = parsed.manifest.config.digest;
    const ct = parsed.manifest.config.mediaType;
    if (ct === MT.ociConfig || ct === MT.dockerConfig) {
      try {
        const cfg = JSON.parse((await client.getBlob(repository, parsed.manifest.config.digest as Digest, 4 * 1024 * 1024)).toString("utf8")) as Record<string, unknown>;
        os = typeof cfg.os === "string" && cfg.os ? cfg.os : null;
        architecture = typeof cfg.architecture === "string" && cfg.architecture ? cfg.architecture : null;
        variant = typeof cfg.variant === "string" ? cfg.variant : null;
        const created = typeof cfg.created === "string" ? new Date(cfg.created) : null;
        configCreated = created && !Number.isNaN(created.getTime()) && created.getFullYear() > 1970 ? created : null;
        const inner = cfg.config as { Labels?: unknown } | undefined;
        if (inner?.Labels && typeof inner.Labels === "object") labels = inner.Labels as object;
        if (Array.isArray(cfg.history)) history = (cfg.history as unknown[]).slice(0, 500) as object;
      } catch (e) {
        if (!(e instanceof OciError) && !(e instanceof SyntaxError)) throw e;
      }
    }
  } else if (parsed.kind === "index") {
    platforms = indexPlatforms(parsed.index);
  }
  // Any other document (an unknown media type) is kept as is and shown as unknown.
  // Platform manifests are stored before their index: an index row exists only once it is complete, so a
  // failure half-way leaves nothing that a later sync would mistake for done.
  if (parsed.kind === "index") {
    for (const child of parsed.index.manifests.slice(0, MAX_INDEX_CHILDREN)) {
      try {
        await storeManifest({ client, repositoryId, repository, digest: child.digest as Digest, parentDigest: digest });
      } catch (e) {
        // A missing platform manifest (partial mirror) must not hide the index itself.
        if (!(e instanceof OciError) || e.code !== "NOT_FOUND") throw e;
      }
    }
  }
  // ON CONFLICT DO NOTHING: a concurrent sync or approval may store the same digest at the same moment.
  const json = (v: object | undefined) => (v === undefined ? null : JSON.stringify(v));
  const inserted = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture, variant,
                        platforms, config_created, labels, history, parent_digest)
    VALUES (gen_random_uuid(), ${repositoryId}::uuid, ${digest}, ${parsed.mediaType}, ${fetched.bytes.byteLength}, ${Buffer.from(fetched.bytes)},
            ${configDigest}, ${os}, ${architecture}, ${variant}, ${json(platforms)}::jsonb, ${configCreated}, ${json(labels)}::jsonb,
            ${json(history)}::jsonb, ${opts.parentDigest ?? null})
    ON CONFLICT (repository_id, digest) DO NOTHING
    RETURNING id`;
  const row = inserted[0] ?? (await db.image.findUniqueOrThrow({ where: { repositoryId_digest: { repositoryId, digest } }, select: { id: true } }));
  return { id: row.id, created: inserted.length === 1 };
}

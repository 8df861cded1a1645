import "server-only";
import type { z } from "zod";
import { db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { indexPlatforms, parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import type { imageLabelsColumn, imagePlatformsColumn } from "../json-columns";

const MAX_INDEX_CHILDREN = 64;
const MAX_DIFF_IDS = 1000;
const DIFF_ID = /^sha256:[a-f0-9]{64}$/;

/** The config's `rootfs.diff_ids` when every entry is a sha256 digest (else none: a base claim cannot be proven). */
export function diffIdsOf(cfg: Record<string, unknown>): string[] {
  const rootfs = cfg.rootfs as { diff_ids?: unknown } | undefined;
  const ids = rootfs && typeof rootfs === "object" ? rootfs.diff_ids : undefined;
  if (!Array.isArray(ids) || ids.length > MAX_DIFF_IDS || !ids.every((d) => typeof d === "string" && DIFF_ID.test(d))) return [];
  return ids as string[];
}

async function readConfig(client: RegistryClient, repository: string, digest: Digest): Promise<Record<string, unknown> | null> {
  try {
    const cfg = JSON.parse((await client.getBlob(repository, digest, 4 * 1024 * 1024)).toString("utf8")) as unknown;
    return cfg && typeof cfg === "object" && !Array.isArray(cfg) ? (cfg as Record<string, unknown>) : null;
  } catch (e) {
    if (!(e instanceof OciError) && !(e instanceof SyntaxError)) throw e;
    return null;
  }
}

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
  const known = opts.absent ? null : await db.image.findUnique({ where: { repositoryId_digest: { repositoryId, digest } }, select: { id: true, configDigest: true, diffIds: true } });
  if (known) {
    // Rows stored before layer diff IDs were kept get them on their next sync (the base-image gate needs them).
    let diffIds: string[] | undefined;
    if (known.configDigest && known.diffIds.length === 0) {
      const cfg = await readConfig(client, repository, known.configDigest as Digest);
      if (cfg) diffIds = diffIdsOf(cfg);
    }
    await db.image.update({ where: { id: known.id }, data: { lastSeenAt: new Date(), ...(diffIds?.length ? { diffIds } : {}) } });
    return { id: known.id, created: false };
  }
  const fetched = opts.fetched ?? (await client.getManifest(repository, digest));
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  let os: string | null = null;
  let architecture: string | null = null;
  let variant: string | null = null;
  let configDigest: string | null = null;
  let platforms: z.input<typeof imagePlatformsColumn> | undefined;
  let configCreated: Date | null = null;
  let labels: z.input<typeof imageLabelsColumn> | undefined;
  let history: object | undefined;
  let diffIds: string[] = [];
  if (parsed.kind === "manifest") {
    configDigest = parsed.manifest.config.digest;
    const ct = parsed.manifest.config.mediaType;
    if (ct === MT.ociConfig || ct === MT.dockerConfig) {
      const cfg = await readConfig(client, repository, parsed.manifest.config.digest as Digest);
      if (cfg) {
        diffIds = diffIdsOf(cfg);
        os = typeof cfg.os === "string" && cfg.os ? cfg.os : null;
        architecture = typeof cfg.architecture === "string" && cfg.architecture ? cfg.architecture : null;
        variant = typeof cfg.variant === "string" ? cfg.variant : null;
        const created = typeof cfg.created === "string" ? new Date(cfg.created) : null;
        configCreated = created && !Number.isNaN(created.getTime()) && created.getFullYear() > 1970 ? created : null;
        const inner = cfg.config as { Labels?: unknown } | undefined;
        // Labels are the image's claims, shown as text: only string values are kept (what the column's readers parse).
        if (inner?.Labels && typeof inner.Labels === "object") labels = Object.fromEntries(Object.entries(inner.Labels).filter((e): e is [string, string] => typeof e[1] === "string"));
        if (Array.isArray(cfg.history)) history = (cfg.history as unknown[]).slice(0, 500) as object;
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
                        platforms, config_created, labels, history, diff_ids, parent_digest)
    VALUES (gen_random_uuid(), ${repositoryId}::uuid, ${digest}, ${parsed.mediaType}, ${fetched.bytes.byteLength}, ${Buffer.from(fetched.bytes)},
            ${configDigest}, ${os}, ${architecture}, ${variant}, ${json(platforms)}::jsonb, ${configCreated}, ${json(labels)}::jsonb,
            ${json(history)}::jsonb, ${diffIds}::text[], ${opts.parentDigest ?? null})
    ON CONFLICT (repository_id, digest) DO NOTHING
    RETURNING id`;
  const row = inserted[0] ?? (await db.image.findUniqueOrThrow({ where: { repositoryId_digest: { repositoryId, digest } }, select: { id: true } }));
  return { id: row.id, created: inserted.length === 1 };
}

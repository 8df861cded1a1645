import "server-only";
import { wellFormedJson } from "../../well-formed-json";
import { db, Prisma } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { goImageConfig, indexPlatforms, jsonDepthExceeds, MAX_REGISTRY_JSON_DEPTH, parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";

const MAX_DIFF_IDS = 1000;
const DIFF_ID = /^sha256:[a-f0-9]{64}$/;
export const MAX_INDEX_CHILDREN = 64;

/** One `images` row as read from the registry, ready to insert (see insertImageRows). */
export interface ImageRow {
  digest: string;
  mediaType: string;
  size: number;
  manifest: Buffer;
  configDigest: string | null;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  platforms: object | null;
  configCreated: Date | null;
  labels: object | null;
  history: object | null;
  diffIds: string[];
  parentDigest: string | null;
}

/** The config's `rootfs.diff_ids` when every entry is a sha256 digest (else none: a base claim cannot be proven). */
export function diffIdsOf(cfg: Record<string, unknown>): string[] {
  const rootfs = cfg.rootfs as { diff_ids?: unknown } | undefined;
  const ids = rootfs && typeof rootfs === "object" ? rootfs.diff_ids : undefined;
  if (!Array.isArray(ids) || ids.length > MAX_DIFF_IDS || !ids.every((d) => typeof d === "string" && DIFF_ID.test(d))) return [];
  return ids as string[];
}

export async function readConfig(client: RegistryClient, repository: string, digest: Digest): Promise<Record<string, unknown> | null> {
  try {
    const cfg = JSON.parse((await client.getBlob(repository, digest, 4 * 1024 * 1024)).toString("utf8")) as unknown;
    // A config nested past any real one (the registry treats it as opaque bytes) is not read: what is kept of it is
    // written to the database again, and JSON.stringify of a 20,000-deep `history` threw, failing the repository's
    // whole write on every sync (its tag moves and accessories with it).
    if (jsonDepthExceeds(cfg, MAX_REGISTRY_JSON_DEPTH)) return null;
    return cfg && typeof cfg === "object" && !Array.isArray(cfg) ? goImageConfig(cfg as Record<string, unknown>) : null;
  } catch (e) {
    if (!(e instanceof OciError) && !(e instanceof SyntaxError)) throw e;
    return null;
  }
}

/** The config's history as the image page shows it: at most 500 entries, each with only its string fields and empty_layer. */
function flatHistory(history: unknown[]): object {
  return history.slice(0, 500).map((h) => {
    const e = h && typeof h === "object" && !Array.isArray(h) ? (h as Record<string, unknown>) : {};
    const out: Record<string, unknown> = {};
    for (const k of ["created", "created_by", "author", "comment"]) if (typeof e[k] === "string") out[k] = e[k];
    if (typeof e.empty_layer === "boolean") out.empty_layer = e.empty_layer;
    return out;
  });
}

/** What an image config tells about the image (os, architecture, labels, history, layer diff IDs). */
function configFields(cfg: Record<string, unknown>): Pick<ImageRow, "os" | "architecture" | "variant" | "configCreated" | "labels" | "history" | "diffIds"> {
  const created = typeof cfg.created === "string" ? new Date(cfg.created) : null;
  const inner = cfg.config as { Labels?: unknown } | undefined;
  return {
    diffIds: diffIdsOf(cfg),
    os: typeof cfg.os === "string" && cfg.os ? cfg.os : null,
    architecture: typeof cfg.architecture === "string" && cfg.architecture ? cfg.architecture : null,
    variant: typeof cfg.variant === "string" ? cfg.variant : null,
    configCreated: created && !Number.isNaN(created.getTime()) && created.getFullYear() > 1970 ? created : null,
    // Labels are the image's claims, shown as text: only string values are kept (what the column's readers parse).
    labels:
      inner?.Labels && typeof inner.Labels === "object"
        ? Object.fromEntries(Object.entries(inner.Labels).filter((e): e is [string, string] => typeof e[1] === "string"))
        : null,
    history: Array.isArray(cfg.history) ? flatHistory(cfg.history) : null,
  };
}

/**
 * Parses a fetched manifest and reads what its row needs from the registry (the image config). Returns the row
 * and, for an index, its platform manifests' digests (at most MAX_INDEX_CHILDREN), which the caller stores first.
 * Any other document (an unknown media type) is kept as is and shown as unknown.
 */
export async function readImageRow(opts: {
  client: RegistryClient;
  repository: string;
  digest: Digest;
  fetched: { bytes: Buffer; mediaType: string };
  parentDigest?: string | null;
}): Promise<{ row: ImageRow; children: Digest[] }> {
  const { client, repository, digest, fetched } = opts;
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  const row: ImageRow = {
    digest,
    mediaType: parsed.mediaType,
    size: fetched.bytes.byteLength,
    manifest: Buffer.from(fetched.bytes),
    configDigest: null,
    os: null,
    architecture: null,
    variant: null,
    platforms: null,
    configCreated: null,
    labels: null,
    history: null,
    diffIds: [],
    parentDigest: opts.parentDigest ?? null,
  };
  let children: Digest[] = [];
  if (parsed.kind === "manifest") {
    row.configDigest = parsed.manifest.config.digest;
    const ct = parsed.manifest.config.mediaType;
    if (ct === MT.ociConfig || ct === MT.dockerConfig) {
      const cfg = await readConfig(client, repository, parsed.manifest.config.digest as Digest);
      if (cfg) Object.assign(row, configFields(cfg));
    }
  } else if (parsed.kind === "index") {
    row.platforms = indexPlatforms(parsed.index);
    children = parsed.index.manifests.slice(0, MAX_INDEX_CHILDREN).map((c) => c.digest as Digest);
  }
  return { row, children };
}

/**
 * JSON for a jsonb parameter. jsonb refuses a lone surrogate escape (\ud800) that JSON.stringify writes for a string
 * from a hostile registry, and refuses \u0000 outright; either would fail a whole repository's write (every other
 * image, tag move and deletion of that repository with it, sync after sync). wellFormedJson stores U+FFFD instead.
 */
export const jsonParam = (value: unknown): string => wellFormedJson(value);

/** The rows as one JSON document for jsonb_to_recordset: one parameter, however many rows. */
function rowsJson(rows: ImageRow[]): string {
  return jsonParam(
    rows.map((r) => ({
      digest: r.digest,
      media_type: r.mediaType,
      size: r.size,
      manifest: r.manifest.toString("base64"),
      config_digest: r.configDigest,
      os: r.os,
      architecture: r.architecture,
      variant: r.variant,
      platforms: r.platforms,
      config_created: r.configCreated?.toISOString() ?? null,
      labels: r.labels,
      history: r.history,
      diff_ids: r.diffIds,
      parent_digest: r.parentDigest,
    })),
  );
}

/**
 * INSERT of `rows` into `images`, all in one statement (here and inside the sync's one statement per
 * repository). ON CONFLICT DO NOTHING: a concurrent sync or approval may store the same digest at the same
 * moment. Returns the inserted rows' id and digest.
 */
export function insertImageRowsSql(repositoryId: string, rows: ImageRow[], now: Date): Prisma.Sql {
  return Prisma.sql`INSERT INTO images (id, repository_id, digest, media_type, size, manifest, config_digest, os, architecture, variant,
                            platforms, config_created, labels, history, diff_ids, parent_digest, first_seen_at, last_seen_at)
    SELECT gen_random_uuid(), ${repositoryId}::uuid, x.digest, x.media_type, x.size, decode(x.manifest, 'base64'), x.config_digest,
           x.os, x.architecture, x.variant, x.platforms, x.config_created, x.labels, x.history,
           ARRAY(SELECT jsonb_array_elements_text(x.diff_ids)), x.parent_digest, ${now}::timestamptz, ${now}::timestamptz
      FROM jsonb_to_recordset(${rowsJson(rows)}::jsonb) AS x(digest text, media_type text, size int, manifest text,
           config_digest text, os text, architecture text, variant text, platforms jsonb, config_created timestamptz, labels jsonb,
           history jsonb, diff_ids jsonb, parent_digest text)
     -- In digest order: two syncs of one repository inserting the same new manifests then wait on each other's unique
     -- index entries in the same order, never each on the other's (a deadlock that failed one of them).
     ORDER BY x.digest
    ON CONFLICT (repository_id, digest) DO NOTHING
    RETURNING id::text AS id, digest`;
}

/**
 * Inserts rows in one statement. Returns the id of every row's digest (inserted, or stored already by someone
 * else) and whether this call inserted it.
 */
export async function insertImageRows(repositoryId: string, rows: ImageRow[], now = new Date()): Promise<Map<string, { id: string; created: boolean }>> {
  const out = new Map<string, { id: string; created: boolean }>();
  if (rows.length === 0) return out;
  for (const r of await db.$queryRaw<{ id: string; digest: string }[]>(insertImageRowsSql(repositoryId, rows, now)))
    out.set(r.digest, { id: r.id, created: true });
  const missing = rows.map((r) => r.digest).filter((d) => !out.has(d));
  if (missing.length) {
    for (const r of await db.image.findMany({ where: { repositoryId, digest: { in: missing } }, select: { id: true, digest: true } }))
      out.set(r.digest, { id: r.id, created: false });
  }
  return out;
}

import "server-only";
import { db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { diffIdsOf, insertImageRows, readConfig, readImageRow } from "./manifest-rows";

export { diffIdsOf } from "./manifest-rows";

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
  const known = opts.absent
    ? null
    : await db.image.findUnique({ where: { repositoryId_digest: { repositoryId, digest } }, select: { id: true, configDigest: true, diffIds: true } });
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
  const { row, children } = await readImageRow({ client, repository, digest, fetched, parentDigest: opts.parentDigest ?? null });
  // Platform manifests are stored before their index: an index row exists only once it is complete, so a
  // failure half-way leaves nothing that a later sync would mistake for done.
  for (const child of children) {
    try {
      await storeManifest({ client, repositoryId, repository, digest: child, parentDigest: digest });
    } catch (e) {
      // A missing platform manifest (partial mirror) must not hide the index itself.
      if (!(e instanceof OciError) || e.code !== "NOT_FOUND") throw e;
    }
  }
  const stored = (await insertImageRows(repositoryId, [row])).get(digest);
  if (!stored) throw new Error(`image ${digest} neither inserted nor found`);
  return stored;
}

import "server-only";
import { db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { assertDigest, OciError, type Digest } from "../../oci/digest";
import { assertRepositoryName, cosignTag, isArtifactTag, referrersFallbackTag } from "../../oci/reference";
import type { ReferrersApiMemo } from "../../oci/referrers";
import type { LoadedTrust } from "../trust/load-trust";
import type { RegistryRow } from "../registries/resolve-registry";
import { loadRepositoryState, type RepositoryStateLoader, type HeldArtifact, type HeldImage, type RepositoryState } from "./load-repository-state";
import { readImageRow, type ImageRow } from "./manifest-rows";
import { refreshSignatures } from "./refresh-signatures";
import { storeManifest } from "./store-manifest";
import { syncArtifacts } from "./sync-artifacts";
import type { SyncStats } from "./sync-registry";
import { isEmpty, writeRepositoryChanges, type RepositoryChanges } from "./write-repository-changes";

/** Tags whose changes are written in one statement; a repository with more is written in several. */
const TAGS_PER_WRITE = 500;

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

export interface RepositorySyncOptions {
  client: RegistryClient;
  reg: RegistryRow;
  repository: string;
  stats: SyncStats;
  /**
   * The trust to verify signatures against, and when it last changed (a signature checked before that is checked
   * again). Loaded when a signature first needs it (see lazyTrust): a run over images without signatures reads none.
   */
  trust: () => Promise<{ trust: LoadedTrust; epoch: Date }>;
  referrersApi: ReferrersApiMemo;
  /** Tags HEADed (or fetched) at once. */
  tagConcurrency: number;
  /** Reads stored states in batches; without it, each repository's state is read on its own. */
  states?: RepositoryStateLoader;
}

async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const all: string[] = [];
  for await (const t of client.tags(repository)) all.push(t);
  return all;
}

/** One repository's pass: what the database holds, what this pass found, and what it wrote. */
export class RepositoryPass {
  readonly held: Map<string, HeldImage>;
  /** Where each stored tag points, updated as the pass writes. */
  readonly tagDigests: Map<string, string>;
  /** Digests this pass has read (or is reading) to store, so that no other tag reads them again. */
  readonly claimed = new Set<string>();
  /** Held images a tag points to (their last-seen time is written with the run's progress). */
  readonly seen = new Set<string>();
  /** Images stored by this pass, by digest. */
  readonly fresh = new Map<string, HeldImage>();
  /** In a repository we hold nothing of yet, every tag needs its body anyway: the HEAD is skipped. */
  readonly cold: boolean;
  readonly now = new Date();

  constructor(
    readonly opts: RepositorySyncOptions,
    readonly state: RepositoryState,
  ) {
    this.held = new Map(state.images.map((i) => [i.digest, i]));
    this.tagDigests = new Map(state.tags.map((t) => [t.name, t.digest]));
    this.cold = this.held.size === 0;
  }

  /** A digest some tag points to that is stored or being stored: nothing to fetch. */
  private known(digest: string, changes: RepositoryChanges): boolean {
    const held = this.held.get(digest);
    if (held) {
      this.seen.add(held.id);
      if (held.deleted && !changes.undelete.includes(held.id)) changes.undelete.push(held.id);
      return true;
    }
    return this.fresh.has(digest) || this.claimed.has(digest);
  }

  /**
   * Where the tag points, fetching and reading what is new (into `rows`). A HEAD gives the digest; an unchanged tag
   * costs no manifest body fetch. Null when the tag was deleted between the listing and now.
   */
  async visitTag(tag: string, changes: RepositoryChanges, rows: ImageRow[][]): Promise<string | null> {
    const { client, repository } = this.opts;
    if (!this.cold) {
      const head = await client.headManifest(repository, tag);
      if (!head) return null;
      if (head.digest && this.known(head.digest, changes)) return head.digest;
    }
    let fetched;
    try {
      fetched = await client.getManifest(repository, tag);
    } catch (e) {
      if (e instanceof OciError && e.code === "NOT_FOUND") return null;
      throw e;
    }
    if (!this.known(fetched.digest, changes)) {
      this.claimed.add(fetched.digest);
      rows.push(await this.readRows(fetched.digest, fetched, null));
    }
    return fetched.digest;
  }

  /** The rows of a new manifest: for an index, its platform manifests first, then the index. */
  private async readRows(digest: Digest, fetched: { bytes: Buffer; mediaType: string }, parentDigest: string | null): Promise<ImageRow[]> {
    const { client, repository } = this.opts;
    const { row, children } = await readImageRow({ client, repository, digest, fetched, parentDigest });
    const out: ImageRow[] = [];
    for (const child of children) {
      if (this.claimed.has(child) || this.fresh.has(child)) continue;
      this.claimed.add(child);
      try {
        // A platform manifest stored already (shared with another index): refreshed there as before.
        if (this.held.has(child)) await storeManifest({ client, repositoryId: this.state.repositoryId, repository, digest: child, parentDigest: digest });
        else out.push(...(await this.readRows(child, await client.getManifest(repository, child), digest)));
      } catch (e) {
        // A missing platform manifest (partial mirror) must not hide the index itself.
        if (!(e instanceof OciError) || e.code !== "NOT_FOUND") throw e;
      }
    }
    out.push(row);
    return out;
  }

  /** Records where a tag points now, as a change when it is new or moved. */
  noteTag(tag: string, digest: string, changes: RepositoryChanges, existing: Map<string, { id: string; digest: string }>): void {
    const prev = existing.get(tag);
    if (!prev) changes.newTags.push({ name: tag, digest });
    else if (prev.digest !== digest) changes.moved.push({ id: prev.id, name: tag, from: prev.digest, to: digest });
    this.opts.stats.tags++;
  }

  async write(changes: RepositoryChanges): Promise<void> {
    if (isEmpty(changes)) return;
    const written = await writeRepositoryChanges({ repositoryId: this.state.repositoryId, changes, now: this.now });
    this.opts.stats.tagMoves += written.tagMoves;
    for (const r of changes.images) {
      const w = written.images.get(r.digest);
      if (!w) continue;
      if (w.created && r.parentDigest === null) this.opts.stats.newManifests++;
      this.fresh.set(r.digest, {
        id: w.id,
        digest: r.digest,
        parentDigest: r.parentDigest,
        deleted: false,
        sigCheckedAt: null,
        hasSignatures: false,
        hasApprovals: false,
      });
    }
    for (const t of changes.newTags) this.tagDigests.set(t.name, t.digest);
    for (const m of changes.moved) this.tagDigests.set(m.name, m.to);
    for (const r of changes.removed) this.tagDigests.delete(r.name);
    const undeleted = new Set(changes.undelete);
    for (const h of this.held.values()) if (undeleted.has(h.id)) h.deleted = false;
  }
}

const noChanges = (): RepositoryChanges => ({ images: [], newTags: [], moved: [], removed: [], undelete: [] });

/** Dedupes rows by digest (the first wins), keeping platform manifests before their index. */
function uniqueRows(rows: ImageRow[][]): ImageRow[] {
  const seen = new Set<string>();
  return rows.flat().filter((r) => (seen.has(r.digest) ? false : (seen.add(r.digest), true)));
}

/** A repository read from the registry, with its last changes not written yet (see finishRepository). */
export interface RepositoryRead {
  pass: RepositoryPass;
  changes: RepositoryChanges;
  /** Every tag the registry listed, artifact tags included. */
  all: string[];
}

/**
 * Reads one repository: what the database holds (in parallel with the registry's tag list), then where every tag
 * points, fetching and reading new manifests. A repository with more than TAGS_PER_WRITE tags has its earlier
 * changes written on the way; the last ones are returned for finishRepository, so that the caller can overlap
 * that write with the next repository's registry reads.
 */
export async function readRepository(opts: RepositorySyncOptions): Promise<RepositoryRead> {
  const { client, reg, repository } = opts;
  // Both settle before either failure is thrown: the repository row must exist for its error to be stored.
  const [stateR, tagsR] = await Promise.allSettled([
    opts.states ? opts.states.load(repository) : loadRepositoryState({ registryId: reg.id, name: repository }),
    listTags(client, repository),
  ]);
  if (stateR.status === "rejected") throw stateR.reason;
  if (tagsR.status === "rejected") throw tagsR.reason;
  const all = tagsR.value;
  const imageTags = all.filter((t) => !isArtifactTag(t));
  const pass = new RepositoryPass(opts, stateR.value);
  const existing = new Map(stateR.value.tags.map((t) => [t.name, t]));
  const listed = new Set(imageTags);
  let changes = noChanges();
  for (let start = 0; start < imageTags.length; start += TAGS_PER_WRITE) {
    if (start > 0) await pass.write(changes);
    changes = noChanges();
    const rows: ImageRow[][] = [];
    await mapLimit(imageTags.slice(start, start + TAGS_PER_WRITE), opts.tagConcurrency, async (tag) => {
      const digest = await pass.visitTag(tag, changes, rows);
      if (digest) pass.noteTag(tag, digest, changes, existing);
    });
    changes.images = uniqueRows(rows);
  }
  changes.removed = stateR.value.tags.filter((t) => !listed.has(t.name)).map((t) => ({ id: t.id, name: t.name, digest: t.digest }));
  return { pass, changes, all };
}

/**
 * Writes a read repository's last changes (one statement, none when nothing changed), then marks untagged
 * digests the registry no longer has and syncs live images' accessories. Returns the ids of the stored images that
 * tags point to, whose last-seen time the caller writes in a batch.
 */
export async function finishRepository({ pass, changes, all }: RepositoryRead): Promise<{ seen: string[] }> {
  await pass.write(changes);
  await syncLiveImages(pass.opts, pass, all);
  return { seen: [...pass.seen] };
}

/**
 * Untagged digests whose HEAD answers 404 are marked deleted (their history and approvals are kept); then the
 * accessories of each live image (tagged, or with approvals).
 */
async function syncLiveImages(opts: RepositorySyncOptions, pass: RepositoryPass, all: string[]): Promise<void> {
  const { client, repository, stats } = opts;
  const tagged = new Set(pass.tagDigests.values());
  const images = [...pass.held.values(), ...pass.fresh.values()].filter((i) => i.parentDigest === null && !i.deleted);
  // A digest no tag points to may still be in the registry (untagged but pulled by digest): only a HEAD
  // by digest that answers 404 marks it deleted, with its platform manifests, except those another index of the
  // repository still lists (a shared platform build stays, and admission judges it by that index).
  for (const img of images) {
    if (tagged.has(img.digest)) continue;
    if (!(await client.headManifest(repository, img.digest))) {
      // Its platform manifests: those naming it as first parent, and those its platform list names (a manifest
      // whose first parent was deleted before, while this index kept it).
      await db.$executeRaw`UPDATE images c SET deleted_at = ${pass.now}
        WHERE c.repository_id = ${pass.state.repositoryId}::uuid AND c.deleted_at IS NULL
          AND (c.id = ${img.id}::uuid OR (c.parent_digest IS NOT NULL
            AND (c.parent_digest = ${img.digest} OR EXISTS (
              SELECT 1 FROM images x WHERE x.id = ${img.id}::uuid AND x.platforms @> jsonb_build_array(jsonb_build_object('digest', c.digest))))
            AND NOT EXISTS (
              SELECT 1 FROM images o WHERE o.repository_id = c.repository_id AND o.deleted_at IS NULL AND o.id <> ${img.id}::uuid
                AND o.platforms @> jsonb_build_array(jsonb_build_object('digest', c.digest)))))`;
      stats.deleted++;
    }
  }
  const live = images.filter((i) => tagged.has(i.digest) || i.hasApprovals);
  const artifacts = new Map<string, HeldArtifact[]>();
  for (const a of pass.state.artifacts) artifacts.set(a.imageId, [...(artifacts.get(a.imageId) ?? []), a]);
  await syncAccessories({ ...opts, live, artifacts, tagSet: new Set(all) });
}

const NO_ARTIFACTS = { sigManifestChanged: false, signatureReferrersChanged: false, signatureReferrers: 0, count: 0, evidenceErrors: 0 } as const;

/**
 * Whether syncArtifacts would find nothing and change nothing, known without calling it: the registry has no
 * referrers API (learnt this run), none of the image's referrers-tag-schema or cosign tags is listed, and nothing is
 * stored for it. syncArtifacts looks only at those tags then, so its answer is empty. Most images of a re-sync have
 * no accessories; this saves each one the look-up's promises.
 */
function nothingAttached(digest: Digest, known: HeldArtifact[], tags: Set<string>, api: ReferrersApiMemo): boolean {
  // The same refusal listReferrers makes first (a digest is checked whichever way the image goes).
  assertDigest(digest);
  if (api.known !== "absent" || known.length > 0) return false;
  return (
    !tags.has(referrersFallbackTag(digest)) &&
    !tags.has(cosignTag(digest, "sig")) &&
    !tags.has(cosignTag(digest, "att")) &&
    !tags.has(cosignTag(digest, "sbom"))
  );
}

/**
 * The accessories of each live image: artifacts and evidence, then its signatures, verified again only when
 * they changed, the trust changed since, or they disappeared.
 */
async function syncAccessories(opts: RepositorySyncOptions & { live: HeldImage[]; artifacts: Map<string, HeldArtifact[]>; tagSet: Set<string> }) {
  const { client, repository, stats, live, tagSet } = opts;
  // Signatures never checked, or checked before the trust last changed.
  const stale = async (img: HeldImage) => !img.sigCheckedAt || img.sigCheckedAt < (await opts.trust()).epoch;
  // The same refusal syncArtifacts makes first for each image (a name from a hostile catalog is this repository's error).
  if (live.length) assertRepositoryName(repository);
  for (const img of live) {
    const known = opts.artifacts.get(img.id) ?? [];
    const { sigManifestChanged, signatureReferrersChanged, signatureReferrers, count, evidenceErrors } = nothingAttached(
      img.digest as Digest,
      known,
      tagSet,
      opts.referrersApi,
    )
      ? NO_ARTIFACTS
      : await syncArtifacts({ client, imageId: img.id, repository, digest: img.digest as Digest, tags: tagSet, known, referrersApi: opts.referrersApi }).catch(
          (e: unknown) => {
            // One image's accessories that cannot be listed (a referrers index paging without end) fail only that
            // image: the others of the repository are still read, and its own signatures are read again from `.sig`.
            if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
            console.warn(`[sync] ${repository}@${img.digest}: accessories not read: ${e.message}`);
            return { ...NO_ARTIFACTS, sigManifestChanged: true, evidenceErrors: 1 };
          },
        );
    stats.artifacts += count;
    stats.evidenceErrors += evidenceErrors;
    const hasSig = tagSet.has(cosignTag(img.digest as Digest, "sig"));
    const hasSignatures = hasSig || signatureReferrers > 0;
    if ((hasSig && sigManifestChanged) || signatureReferrersChanged || (hasSignatures && (await stale(img))) || (!hasSignatures && img.hasSignatures)) {
      const { trust } = await opts.trust();
      const r = await refreshSignatures({ client, imageId: img.id, repository, digest: img.digest as Digest, trust });
      stats.signaturesChecked += r.total;
    }
  }
}

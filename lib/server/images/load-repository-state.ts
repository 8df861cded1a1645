import "server-only";
import { bulkQuery, Prisma } from "../../db";

export interface HeldTag {
  id: string;
  name: string;
  digest: string;
}

export interface HeldImage {
  id: string;
  digest: string;
  parentDigest: string | null;
  deleted: boolean;
  sigCheckedAt: Date | null;
  hasSignatures: boolean;
  hasApprovals: boolean;
}

export interface HeldArtifact {
  imageId: string;
  digest: string;
  source: string;
  kind: string;
}

/** What the database holds of one repository, as a sync needs it. */
export interface RepositoryState {
  repositoryId: string;
  tags: HeldTag[];
  images: HeldImage[];
  artifacts: HeldArtifact[];
}

type TagTuple = [string, string, string];
type ImageTuple = [string, string, string | null, boolean, string | null, boolean, boolean];
type ArtifactTuple = [string, string, string, string];

type StateRow = { id: string; tags: TagTuple[] | null; images: ImageTuple[] | null; artifacts: ArtifactTuple[] | null };

/** What is stored under the repository `r.id`: its tags, images (with signature / approval flags) and artifacts. */
const STATE_COLUMNS = Prisma.sql`
  (SELECT json_agg(json_build_array(t.id, t.name, t.digest)) FROM tags t WHERE t.repository_id = r.id) AS tags,
  (SELECT json_agg(json_build_array(i.id, i.digest, i.parent_digest, i.deleted_at IS NOT NULL, i.sig_checked_at,
                                    EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id),
                                    EXISTS (SELECT 1 FROM approvals a WHERE a.image_id = i.id)))
     FROM images i WHERE i.repository_id = r.id) AS images,
  (SELECT json_agg(json_build_array(a.image_id, a.digest, a.source, a.kind))
     FROM artifacts a JOIN images i ON i.id = a.image_id WHERE i.repository_id = r.id) AS artifacts`;

function toState(row: StateRow): RepositoryState {
  return {
    repositoryId: row.id,
    tags: (row.tags ?? []).map(([id, tagName, digest]) => ({ id, name: tagName, digest })),
    images: (row.images ?? []).map(([id, digest, parentDigest, deleted, checked, hasSignatures, hasApprovals]) => ({
      id,
      digest,
      parentDigest,
      deleted,
      sigCheckedAt: checked ? new Date(checked) : null,
      hasSignatures,
      hasApprovals,
    })),
    artifacts: (row.artifacts ?? []).map(([imageId, digest, source, kind]) => ({ imageId, digest, source, kind })),
  };
}

/**
 * The repository row (created when missing) and what is stored under it: its tags (name → digest), its images
 * (with whether they carry signatures or approvals, and when their signatures were last checked) and their
 * artifacts, read in ONE statement. A sync compares the registry against this instead of reading each piece on
 * its own (it used to cost 6 round trips per repository). An existing repository is only read, not written.
 */
export async function loadRepositoryState({ registryId, name }: { registryId: string; name: string }): Promise<RepositoryState> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const rows = await bulkQuery<StateRow>(Prisma.sql`
      WITH found AS (SELECT id FROM repositories WHERE registry_id = ${registryId}::uuid AND name = ${name}),
           created AS (
             INSERT INTO repositories (id, registry_id, name)
             SELECT gen_random_uuid(), ${registryId}::uuid, ${name} WHERE NOT EXISTS (SELECT 1 FROM found)
             ON CONFLICT (registry_id, name) DO NOTHING
             RETURNING id),
           repo AS (SELECT id FROM found UNION ALL SELECT id FROM created)
      SELECT r.id::text AS id, ${STATE_COLUMNS} FROM repo r`);
    const row = rows[0];
    // No row: a concurrent caller created the repository after this statement's snapshot; it is visible now.
    if (row) return toState(row);
  }
  throw new Error(`repository ${name} neither found nor created`);
}

/** A repository with more stored tags or images than this is read on its own, not in a batch (bounded memory). */
const BATCH_ROWS_CAP = 1000;

/**
 * The same for many repositories in one statement: repositories created when missing, and the state of each
 * one holding at most BATCH_ROWS_CAP tags and images. The others (and any created concurrently after this
 * statement's snapshot) are missing from the map: the caller reads them with loadRepositoryState.
 */
export async function loadRepositoryStates({ registryId, names }: { registryId: string; names: string[] }): Promise<Map<string, RepositoryState>> {
  const rows = await bulkQuery<StateRow & { name: string }>(
    Prisma.sql`
    WITH wanted AS (SELECT DISTINCT unnest(${names}::text[]) AS name),
         found AS (SELECT r.id, r.name FROM repositories r JOIN wanted w ON w.name = r.name WHERE r.registry_id = ${registryId}::uuid),
         created AS (
           INSERT INTO repositories (id, registry_id, name)
           SELECT gen_random_uuid(), ${registryId}::uuid, w.name FROM wanted w WHERE NOT EXISTS (SELECT 1 FROM found f WHERE f.name = w.name)
           ON CONFLICT (registry_id, name) DO NOTHING
           RETURNING id, name),
         repo AS (SELECT id, name FROM found UNION ALL SELECT id, name FROM created)
    SELECT r.id::text AS id, r.name, ${STATE_COLUMNS}
      FROM repo r
     WHERE (SELECT count(*) FROM (SELECT 1 FROM tags t WHERE t.repository_id = r.id LIMIT ${BATCH_ROWS_CAP + 1}) x) <= ${BATCH_ROWS_CAP}
       AND (SELECT count(*) FROM (SELECT 1 FROM images i WHERE i.repository_id = r.id LIMIT ${BATCH_ROWS_CAP + 1}) y) <= ${BATCH_ROWS_CAP}`,
    { prepare: true },
  );
  return new Map(rows.map((r) => [r.name, toState(r)]));
}

/**
 * Reads repository states for a sync in batches of `batchSize`, in the order the sync takes the repositories, one
 * batch ahead (at most two batches held): by the time a worker needs a repository's state it has usually been read
 * already, in a statement shared with its neighbours. A state read ahead may be a few seconds old when used; the sync's writes do not
 * depend on it being current (inserts are ON CONFLICT DO NOTHING, a tag moves only from where it was read).
 */
export class RepositoryStateLoader {
  private readonly index = new Map<string, number>();
  private readonly batches: Promise<Map<string, RepositoryState> | null>[] = [];

  constructor(
    private readonly registryId: string,
    private readonly names: string[],
    private readonly batchSize = 32,
  ) {
    names.forEach((n, i) => {
      if (!this.index.has(n)) this.index.set(n, i);
    });
  }

  private batch(b: number): Promise<Map<string, RepositoryState> | null> {
    for (let k = this.batches.length; k <= b; k++) {
      const names = this.names.slice(k * this.batchSize, (k + 1) * this.batchSize);
      // A batch that fails (e.g. one hostile name) costs only the batching: each repository is then read alone.
      this.batches.push(names.length ? loadRepositoryStates({ registryId: this.registryId, names }).catch(() => null) : Promise.resolve(new Map()));
    }
    return this.batches[b]!;
  }

  /** Starts reading the first batch now (the sync's first workers need it at once). */
  prefetch(): void {
    void this.batch(0);
  }

  async load(name: string): Promise<RepositoryState> {
    const i = this.index.get(name);
    if (i === undefined) return loadRepositoryState({ registryId: this.registryId, name });
    const b = Math.floor(i / this.batchSize);
    const batch = this.batch(b);
    // From a batch's first use on, the next one is read ahead: a whole batch of repository reads (not half of one)
    // to hide that statement behind, which a loaded Postgres needed (workers waited for states at half a batch).
    void this.batch(b + 1);
    return (await batch)?.get(name) ?? loadRepositoryState({ registryId: this.registryId, name });
  }
}

import "server-only";
import { bulkQuery, db, Prisma } from "../../db";
import { insertImageRowsSql, jsonParam, type ImageRow } from "./manifest-rows";

/** What one pass over a repository's tags found different from what the database holds. */
export interface RepositoryChanges {
  /** New manifests (platform manifests before their index; a digest once). */
  images: ImageRow[];
  newTags: { name: string; digest: string }[];
  moved: { id: string; name: string; from: string; to: string }[];
  /** Tags gone from the registry. */
  removed: { id: string; name: string; digest: string }[];
  /** Images marked deleted that a tag points to again. */
  undelete: string[];
}

export function isEmpty(c: RepositoryChanges): boolean {
  return c.images.length + c.newTags.length + c.moved.length + c.removed.length + c.undelete.length === 0;
}

export interface WrittenChanges {
  /** Every new manifest's row id by digest, and whether this statement inserted it (else someone else had). */
  images: Map<string, { id: string; created: boolean }>;
  /** Tags moved or removed, each with its event. */
  tagMoves: number;
}

/**
 * Writes a repository's changes in ONE statement (data-modifying CTEs run atomically in one snapshot): the new
 * manifests, the new tags with their "first seen" events, the moved and removed tags with theirs, and the
 * images a tag points to again. A failure leaves nothing half-written: an index row never exists without its
 * platform manifests, a tag never moves without its event. A tag move or removal applies only when the tag
 * still points where this sync read it (a concurrent writer wins, and no event claims a move that did not happen).
 */
export async function writeRepositoryChanges({
  repositoryId,
  changes,
  now,
}: {
  repositoryId: string;
  changes: RepositoryChanges;
  now: Date;
}): Promise<WrittenChanges> {
  const json = jsonParam;
  const [row] = await bulkQuery<{ images: [string, string][] | null; moves: number }>(
    Prisma.sql`
    WITH img AS (${changes.images.length ? insertImageRowsSql(repositoryId, changes.images, now) : Prisma.sql`SELECT NULL::text AS id, NULL::text AS digest WHERE false`}),
         new_tags AS (
           INSERT INTO tags (id, repository_id, name, digest, first_seen_at, updated_at)
           SELECT gen_random_uuid(), ${repositoryId}::uuid, t.name, t.digest, ${now}::timestamptz, ${now}::timestamptz
             FROM jsonb_to_recordset(${json(changes.newTags)}::jsonb) AS t(name text, digest text)
            ORDER BY t.name
           ON CONFLICT (repository_id, name) DO NOTHING
           RETURNING name, digest),
         moved AS (
           UPDATE tags SET digest = m.to_digest, updated_at = ${now}::timestamptz
             FROM jsonb_to_recordset(${json(changes.moved.map((m) => ({ id: m.id, from_digest: m.from, to_digest: m.to })))}::jsonb) AS m(id uuid, from_digest text, to_digest text)
            WHERE tags.id = m.id AND tags.repository_id = ${repositoryId}::uuid AND tags.digest = m.from_digest
           RETURNING tags.name, m.from_digest, m.to_digest),
         removed AS (
           DELETE FROM tags USING jsonb_to_recordset(${json(changes.removed.map((r) => ({ id: r.id, digest: r.digest })))}::jsonb) AS g(id uuid, digest text)
            WHERE tags.id = g.id AND tags.repository_id = ${repositoryId}::uuid AND tags.digest = g.digest
           RETURNING tags.name, g.digest),
         events AS (
           INSERT INTO tag_events (id, repository_id, tag, from_digest, to_digest, seen_at)
           SELECT gen_random_uuid(), ${repositoryId}::uuid, e.tag, e.from_digest, e.to_digest, ${now}::timestamptz
             FROM (SELECT name AS tag, NULL::text AS from_digest, digest AS to_digest FROM new_tags
                   UNION ALL SELECT name, from_digest, to_digest FROM moved
                   UNION ALL SELECT name, digest, NULL FROM removed) e
           RETURNING 1),
         undeleted AS (
           -- A revived index brings back the platform manifests that were marked deleted with it: those naming it as
           -- first parent, and those its platform list names (a shared build, deleted with the last index listing it).
           UPDATE images SET deleted_at = NULL
            WHERE repository_id = ${repositoryId}::uuid
              AND (id = ANY(${changes.undelete}::uuid[])
                   OR parent_digest IN (SELECT digest FROM images WHERE id = ANY(${changes.undelete}::uuid[]) AND repository_id = ${repositoryId}::uuid)
                   OR (parent_digest IS NOT NULL AND EXISTS (
                         SELECT 1 FROM images x WHERE x.id = ANY(${changes.undelete}::uuid[]) AND x.repository_id = ${repositoryId}::uuid
                           AND x.platforms @> jsonb_build_array(jsonb_build_object('digest', images.digest)))))
           RETURNING 1)
    SELECT (SELECT json_agg(json_build_array(id, digest)) FROM img) AS images,
           ((SELECT count(*) FROM moved) + (SELECT count(*) FROM removed))::int AS moves,
           (SELECT count(*) FROM events)::int AS events,
           (SELECT count(*) FROM undeleted)::int AS undeleted`,
    // Prepared once per connection: a sync sends it once per repository (thousands per run) with the same text.
    { prepare: true },
  );
  const images = new Map<string, { id: string; created: boolean }>();
  for (const [id, digest] of row?.images ?? []) images.set(digest, { id, created: true });
  // A digest another writer stored first (ON CONFLICT DO NOTHING): its id, read only in that rare case.
  const missing = changes.images.map((r) => r.digest).filter((d) => !images.has(d));
  if (missing.length) {
    for (const r of await db.image.findMany({ where: { repositoryId, digest: { in: missing } }, select: { id: true, digest: true } }))
      images.set(r.digest, { id: r.id, created: false });
  }
  return { images, tagMoves: row?.moves ?? 0 };
}

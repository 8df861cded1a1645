import "server-only";
import { db } from "../../db";

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

/**
 * The repository row (created when missing) and what is stored under it: its tags (name → digest), its images
 * (with whether they carry signatures or approvals, and when their signatures were last checked) and their
 * artifacts, read in ONE statement. A sync compares the registry against this instead of reading each piece on
 * its own (it used to cost 6 round trips per repository). An existing repository is only read, not written.
 */
export async function loadRepositoryState({ registryId, name }: { registryId: string; name: string }): Promise<RepositoryState> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const rows = await db.$queryRaw<{ id: string; tags: TagTuple[] | null; images: ImageTuple[] | null; artifacts: ArtifactTuple[] | null }[]>`
      WITH found AS (SELECT id FROM repositories WHERE registry_id = ${registryId}::uuid AND name = ${name}),
           created AS (
             INSERT INTO repositories (id, registry_id, name)
             SELECT gen_random_uuid(), ${registryId}::uuid, ${name} WHERE NOT EXISTS (SELECT 1 FROM found)
             ON CONFLICT (registry_id, name) DO NOTHING
             RETURNING id),
           repo AS (SELECT id FROM found UNION ALL SELECT id FROM created)
      SELECT r.id::text AS id,
             (SELECT json_agg(json_build_array(t.id, t.name, t.digest)) FROM tags t WHERE t.repository_id = r.id) AS tags,
             (SELECT json_agg(json_build_array(i.id, i.digest, i.parent_digest, i.deleted_at IS NOT NULL, i.sig_checked_at,
                                               EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id),
                                               EXISTS (SELECT 1 FROM approvals a WHERE a.image_id = i.id)))
                FROM images i WHERE i.repository_id = r.id) AS images,
             (SELECT json_agg(json_build_array(a.image_id, a.digest, a.source, a.kind))
                FROM artifacts a JOIN images i ON i.id = a.image_id WHERE i.repository_id = r.id) AS artifacts
        FROM repo r`;
    const row = rows[0];
    // No row: a concurrent caller created the repository after this statement's snapshot; it is visible now.
    if (!row) continue;
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
  throw new Error(`repository ${name} neither found nor created`);
}

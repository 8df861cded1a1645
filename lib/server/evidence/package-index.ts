import "server-only";
import type { Tx } from "../../db";

// The fleet search's per-package summary (package_versions / package_images, see the migration
// 20261204120000_package_search): kept in the same transaction as every change to what evidence is live.

// A component's package version: its unique key (package_versions.key_hash), computed from the same five columns
// the row was made of (empty strings for absent values), so finding it is one probe of the unique index. Not a join
// on the five columns: with many components of one name the planner took package_versions_name_key_idx and read
// every version of that name once per component, an ingest quadratic in them (found by review: 20,000 components
// of one name took 3 minutes). Callers take the DISTINCT keys first, so a key repeated in a document costs once.
export const PACKAGE_KEY_OF_C = `imprimatur_package_key(c.name_key, coalesce(c.purl_key, ''), coalesce(c.ecosystem, ''), coalesce(c.version, ''), coalesce(c.purl, ''))`;

/**
 * Adds a live document's components to the summary: its new (package, version, purl) rows, and the pairs with its
 * image. Rows are inserted in key order, so two ingests sharing packages wait for each other instead of
 * deadlocking; ON CONFLICT DO NOTHING makes a package the fleet already has cost one index probe.
 */
export async function indexDocumentPackages(tx: Tx, { documentId, imageId }: { documentId: string; imageId: string }): Promise<void> {
  await tx.$executeRawUnsafe(
    `INSERT INTO package_versions (key_hash, name_key, purl_key, ecosystem, version, purl)
     SELECT imprimatur_package_key(k.name_key, k.purl_key, k.ecosystem, k.version, k.purl), k.name_key, k.purl_key, k.ecosystem, k.version, k.purl
     FROM (SELECT DISTINCT c.name_key, coalesce(c.purl_key, '') AS purl_key, coalesce(c.ecosystem, '') AS ecosystem,
                  coalesce(c.version, '') AS version, coalesce(c.purl, '') AS purl
           FROM components c WHERE c.document_id = $1::uuid) k
     ORDER BY 1
     ON CONFLICT (key_hash) DO NOTHING`,
    documentId,
  );
  await tx.$executeRawUnsafe(
    `INSERT INTO package_images (package_version_id, image_id)
     SELECT pv.id, $2::uuid
     FROM (SELECT DISTINCT ${PACKAGE_KEY_OF_C} AS key_hash FROM components c WHERE c.document_id = $1::uuid) k
     JOIN package_versions pv ON pv.key_hash = k.key_hash
     ORDER BY 1
     ON CONFLICT DO NOTHING`,
    documentId,
    imageId,
  );
}

/**
 * Removes a document that stopped being live (withdrawn) from the summary: each of its package versions leaves
 * the image unless another live document of the same image still has it.
 */
export async function unindexDocumentPackages(tx: Tx, { documentId, imageId }: { documentId: string; imageId: string }): Promise<void> {
  // Both sets of keys are computed once (a hash of each), then each key left is one probe of the unique index.
  await tx.$executeRawUnsafe(
    `WITH gone AS (
       SELECT ${PACKAGE_KEY_OF_C} AS key_hash FROM components c WHERE c.document_id = $1::uuid
       EXCEPT
       SELECT ${PACKAGE_KEY_OF_C} FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL
       WHERE c.image_id = $2::uuid AND c.document_id <> $1::uuid)
     DELETE FROM package_images pi USING gone JOIN package_versions pv ON pv.key_hash = gone.key_hash
     WHERE pi.image_id = $2::uuid AND pi.package_version_id = pv.id`,
    documentId,
    imageId,
  );
}

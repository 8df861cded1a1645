import "server-only";
import type { Tx } from "../../db";

// The fleet search's per-package summary (package_versions / package_images, see the migration
// 20261204120000_package_search): kept in the same transaction as every change to what evidence is live.

// A component's package version: equality on the five columns (a hash or index join; the key hash is computed
// only for new package_versions rows, not per component).
export const SAME = `pv.name_key = c.name_key AND pv.purl_key = coalesce(c.purl_key, '') AND pv.ecosystem = coalesce(c.ecosystem, '')
  AND pv.version = coalesce(c.version, '') AND pv.purl = coalesce(c.purl, '')`;

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
     SELECT DISTINCT pv.id, $2::uuid FROM components c JOIN package_versions pv ON ${SAME}
     WHERE c.document_id = $1::uuid
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
  // Both sets are computed once (hash joins), not per row.
  await tx.$executeRawUnsafe(
    `WITH gone AS (
       SELECT pv.id FROM components c JOIN package_versions pv ON ${SAME} WHERE c.document_id = $1::uuid
       EXCEPT
       SELECT pv.id FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL
       JOIN package_versions pv ON ${SAME}
       WHERE c.image_id = $2::uuid AND c.document_id <> $1::uuid)
     DELETE FROM package_images pi USING gone WHERE pi.image_id = $2::uuid AND pi.package_version_id = gone.id`,
    documentId,
    imageId,
  );
}

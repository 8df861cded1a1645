-- Issue 17: the fleet search reads, for every hit, the image's repository, digest and whether it is deleted, and for
-- the shown page the tags on each digest in name order. Covering indexes let Postgres answer both from the index
-- alone (index-only scans, once autovacuum has set the visibility map) instead of reading the wide image rows
-- (manifest, labels, history: ~4 rows per 8 kB page, so a popular package read every heap page of the images), and
-- one tag row plus a sort per shown image.
-- Prisma's schema language cannot express INCLUDE columns: schema.prisma declares the key columns under the same
-- names, and the drift test compares key columns.
CREATE INDEX "images_search_idx" ON "images"("id") INCLUDE ("repository_id", "digest", "deleted_at");

DROP INDEX "tags_repository_id_digest_idx";
CREATE INDEX "tags_repository_id_digest_idx" ON "tags"("repository_id", "digest", "name");

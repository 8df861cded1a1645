-- Issue 17: the fleet search's page of a package found in many images is read by walking the repositories in name
-- order and their images in digest order, each checked against the hashed hits, until the page is full
-- (lib/server/evidence/search-packages.ts, shape "walk"). The walk reads (repository_id, digest) in key order and
-- needs id and deleted_at of each image: the unique index carries them (INCLUDE), so the walk is index-only instead
-- of reading the wide image rows (manifest, labels, history). Key columns and uniqueness are unchanged.
DROP INDEX "images_repository_id_digest_key";
CREATE UNIQUE INDEX "images_repository_id_digest_key" ON "images"("repository_id", "digest") INCLUDE ("id", "deleted_at");

-- The count of a walked search is the distinct hits less those of deleted images: the deleted images are read from
-- this partial index (usually few or none), not looked up once per hit. Prisma's schema language cannot express
-- the predicate or INCLUDE columns: schema.prisma declares the key column under the same name.
CREATE INDEX "images_deleted_at_idx" ON "images"("deleted_at") INCLUDE ("id") WHERE "deleted_at" IS NOT NULL;

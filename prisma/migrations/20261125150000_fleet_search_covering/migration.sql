-- Fleet search reads (image_id, version, ecosystem, purl) of every component of one package. Covering the
-- name_key / purl_key indexes with those columns lets Postgres answer from the index alone (index-only scan),
-- about 3x less time inside Postgres for popular packages in a 1M-row fleet (see bench/evidence.ts).
-- Prisma's schema language cannot express INCLUDE columns, so schema.prisma still declares the plain indexes
-- under the same names; the drift test compares index key columns.
DROP INDEX "components_name_key_idx";
CREATE INDEX "components_name_key_idx" ON "components"("name_key") INCLUDE ("image_id", "version", "ecosystem", "purl");

DROP INDEX "components_purl_key_idx";
CREATE INDEX "components_purl_key_idx" ON "components"("purl_key") INCLUDE ("image_id", "version", "ecosystem", "purl");

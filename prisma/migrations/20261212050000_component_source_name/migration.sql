-- The source package a distro binary package's purl names (`pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl` →
-- `openssl`; rpm `sourcerpm=openssl-3.0.7-24.el9.src.rpm` → `openssl`), lower-cased: what Debian, Alpine and Red Hat
-- advisories name. A superset filter for advisory matching (lib/server/advisories/match-advisories.ts), which then
-- judges each row by its exact keys in JavaScript (componentKeys in lib/evidence/osv.ts): %40 and %20 are decoded, the
-- name ends at "@" or a space, any other escape cuts it short (rare in package names; such a row is not found here).
CREATE FUNCTION "imprimatur_purl_source_name"(purl TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT NULLIF(
    regexp_replace(
      split_part(split_part(split_part(lower(replace(replace(replace(m[1], '%40', '@'), '%20', ' '), '%2B', '+')), '@', 1), ' ', 1), '%', 1),
      CASE WHEN lower(m[2]) = 'rpm' THEN '-[^-]+-[^-]+\.src\.rpm$' ELSE '$^' END,
      ''),
    '')
  FROM (SELECT regexp_match(purl, '^pkg:(deb|rpm|apk|alpine)/[^?#]*\?(?:[^#]*&)?(?:upstream|sourcerpm|origin)=([^&#]*)', 'i') AS r) x,
       LATERAL (SELECT ARRAY[r[2], r[1]] AS m) y
$$;

CREATE INDEX "components_source_name_idx" ON "components" ("imprimatur_purl_source_name"("purl"))
  WHERE "imprimatur_purl_source_name"("purl") IS NOT NULL;

-- Issue 17: fleet search by package, not by row; purl spellings normalised on the way in.
--
-- 1. imprimatur_normalize_purl(purl, search_key): the SQL twin of lib/evidence/purl.ts (normalizePurl /
--    purlSearchKey), used here to normalise the stored rows once; lib/server/evidence/package-index.int.test.ts
--    checks that both give the same answers. Lower-casing of non-ASCII letters follows the database collation
--    (JS uses Unicode rules); package names in the types concerned are ASCII in practice.
-- 2. package_versions / package_images: one row per distinct (package, version, purl), one pair per image whose
--    live (not withdrawn) evidence contains it. Search reads these (a few index pages for a package in 9,000
--    images), not one components row per image.

CREATE FUNCTION imprimatur_pct_decode(s text) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  b bytea := ''::bytea;
  i int := 1;
  n int := length(s);
  c text;
BEGIN
  IF position('%' in s) = 0 THEN RETURN s; END IF;
  WHILE i <= n LOOP
    c := substr(s, i, 1);
    IF c = '%' THEN
      IF substr(s, i + 1, 2) !~ '^[0-9A-Fa-f]{2}$' THEN RETURN NULL; END IF;
      b := b || decode(substr(s, i + 1, 2), 'hex');
      i := i + 3;
    ELSE
      b := b || convert_to(c, 'UTF8');
      i := i + 1;
    END IF;
  END LOOP;
  RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN others THEN
  -- Bytes that are not UTF-8 (decodeURIComponent throws on them too).
  RETURN NULL;
END $$;

-- encodeURIComponent, leaving the characters in `keep` as they are.
CREATE FUNCTION imprimatur_pct_encode(s text, keep text) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
  out text := '';
  c text;
  i int;
BEGIN
  IF s ~ '^[A-Za-z0-9_.!~*''()-]*$' THEN RETURN s; END IF;
  FOR i IN 1 .. length(s) LOOP
    c := substr(s, i, 1);
    IF c ~ '^[A-Za-z0-9_.!~*''()-]$' OR position(c in keep) > 0 THEN
      out := out || c;
    ELSE
      out := out || regexp_replace(upper(encode(convert_to(c, 'UTF8'), 'hex')), '(..)', '%\1', 'g');
    END IF;
  END LOOP;
  RETURN out;
END $$;

CREATE FUNCTION imprimatur_normalize_purl(input text, search_key boolean DEFAULT false) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  rest text;
  h int;
  q int;
  a int;
  fs int;
  seg text;
  d text;
  segs text[] := '{}';
  sub text := NULL;
  qk text[] := '{}';
  qv text[] := '{}';
  typ text;
  ns text := NULL;
  nm text;
  ver text := NULL;
  pair text;
  eqp int;
  k text;
  v text;
  i int;
  out text;
BEGIN
  IF input IS NULL OR length(input) < 6 OR lower(substr(input, 1, 4)) <> 'pkg:' THEN RETURN NULL; END IF;
  rest := ltrim(substr(input, 5), '/');
  h := position('#' in rest);
  IF h > 0 THEN
    FOREACH seg IN ARRAY string_to_array(substr(rest, h + 1), '/') LOOP
      CONTINUE WHEN seg IN ('', '.', '..');
      d := imprimatur_pct_decode(seg);
      IF d IS NULL OR d IN ('.', '..') OR position('/' in d) > 0 THEN RETURN NULL; END IF;
      segs := segs || d;
    END LOOP;
    IF cardinality(segs) > 0 THEN sub := array_to_string(segs, '/'); END IF;
    rest := substr(rest, 1, h - 1);
  END IF;
  q := position('?' in rest);
  IF q > 0 THEN
    FOREACH pair IN ARRAY string_to_array(substr(rest, q + 1), '&') LOOP
      CONTINUE WHEN pair = '';
      eqp := position('=' in pair);
      CONTINUE WHEN eqp <= 1;
      k := lower(substr(pair, 1, eqp - 1));
      IF k !~ '^[a-z0-9._-]+$' THEN RETURN NULL; END IF;
      v := imprimatur_pct_decode(substr(pair, eqp + 1));
      IF v IS NULL THEN RETURN NULL; END IF;
      CONTINUE WHEN v = '' OR k = ANY(qk);
      qk := qk || k;
      qv := qv || v;
    END LOOP;
    rest := substr(rest, 1, q - 1);
  END IF;
  fs := position('/' in rest);
  IF position('@' in rest) > 0 AND fs > 0 THEN
    a := length(rest) - position('@' in reverse(rest)) + 1;
    -- A raw '@' followed by a '/' is an npm scope written unencoded, not a version.
    IF a > fs AND position('/' in substr(rest, a + 1)) = 0 THEN
      ver := imprimatur_pct_decode(substr(rest, a + 1));
      IF ver IS NULL THEN RETURN NULL; END IF;
      IF ver = '' THEN ver := NULL; END IF;
      rest := substr(rest, 1, a - 1);
    END IF;
  END IF;
  segs := array_remove(string_to_array(rest, '/'), '');
  IF cardinality(segs) < 2 THEN RETURN NULL; END IF;
  typ := lower(segs[1]);
  IF typ !~ '^[a-z][a-z0-9.+-]*$' THEN RETURN NULL; END IF;
  FOR i IN 2 .. cardinality(segs) LOOP
    d := imprimatur_pct_decode(segs[i]);
    IF d IS NULL OR d = '' THEN RETURN NULL; END IF;
    IF i = cardinality(segs) THEN nm := d; ELSIF ns IS NULL THEN ns := d; ELSE ns := ns || '/' || d; END IF;
  END LOOP;
  IF typ = 'alpine' THEN
    typ := 'apk';
    ns := coalesce(ns, 'alpine');
  END IF;
  IF typ IN ('alpm', 'apk', 'bitbucket', 'composer', 'deb', 'github', 'hex', 'npm', 'pypi') THEN
    ns := lower(ns);
    nm := lower(nm);
  ELSIF typ IN ('rpm', 'qpkg') THEN
    ns := lower(ns);
  END IF;
  IF typ = 'pypi' THEN nm := replace(nm, '_', '-'); END IF;
  IF typ = 'oci' THEN
    nm := lower(nm);
    ver := lower(ver);
  END IF;
  IF search_key THEN
    RETURN lower('pkg:' || typ || '/' || coalesce(ns || '/', '') || nm);
  END IF;
  out := 'pkg:' || typ || '/';
  IF ns IS NOT NULL THEN
    out := out || (SELECT string_agg(imprimatur_pct_encode(x, ':'), '/' ORDER BY o) FROM unnest(string_to_array(ns, '/')) WITH ORDINALITY AS t(x, o)) || '/';
  END IF;
  out := out || imprimatur_pct_encode(nm, ':');
  IF ver IS NOT NULL THEN out := out || '@' || imprimatur_pct_encode(ver, ':+'); END IF;
  IF cardinality(qk) > 0 THEN
    out := out || '?' || (SELECT string_agg(x || '=' || imprimatur_pct_encode(y, ':'), '&' ORDER BY x COLLATE "C") FROM unnest(qk, qv) AS t(x, y));
  END IF;
  IF sub IS NOT NULL THEN
    out := out || '#' || (SELECT string_agg(imprimatur_pct_encode(x, ':'), '/' ORDER BY o) FROM unnest(string_to_array(sub, '/')) WITH ORDINALITY AS t(x, o));
  END IF;
  RETURN out;
END $$;

-- The unique key of a package version: sha256 of its length-prefixed parts (no separator can be forged).
CREATE FUNCTION imprimatur_package_key(name_key text, purl_key text, ecosystem text, version text, purl text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(sha256(convert_to(
    length(name_key) || ':' || name_key || length(purl_key) || ':' || purl_key || length(ecosystem) || ':' || ecosystem
    || length(version) || ':' || version || length(purl) || ':' || purl, 'UTF8')), 'hex')
$$;

-- Stored purls, normalised (purls that do not parse stay as they are, with no search key, as the ingest does now).
UPDATE "components" c SET "purl" = coalesce(n.p, c."purl"), "purl_key" = n.k
FROM (SELECT id, imprimatur_normalize_purl("purl") AS p, imprimatur_normalize_purl("purl", true) AS k FROM "components" WHERE "purl" IS NOT NULL) n
WHERE c.id = n.id AND (c."purl" IS DISTINCT FROM coalesce(n.p, c."purl") OR c."purl_key" IS DISTINCT FROM n.k);

-- Tables first, filled from the live (not withdrawn) evidence, then their keys, indexes and foreign keys: building
-- them once after the bulk insert is several times faster than checking them per row (1,000,000 component rows).
CREATE TABLE "package_versions" (
    "id" BIGSERIAL NOT NULL,
    "key_hash" TEXT NOT NULL,
    "name_key" TEXT NOT NULL,
    "purl_key" TEXT NOT NULL,
    "ecosystem" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "purl" TEXT NOT NULL
);

CREATE TABLE "package_images" (
    "package_version_id" BIGINT NOT NULL,
    "image_id" UUID NOT NULL
);

-- DISTINCT over the five key columns: one row per key, so one per key_hash.
INSERT INTO "package_versions" ("key_hash", "name_key", "purl_key", "ecosystem", "version", "purl")
SELECT imprimatur_package_key(k.name_key, k.purl_key, k.ecosystem, k.version, k.purl), k.name_key, k.purl_key, k.ecosystem, k.version, k.purl
FROM (SELECT DISTINCT c."name_key" AS name_key, coalesce(c."purl_key", '') AS purl_key, coalesce(c."ecosystem", '') AS ecosystem,
             coalesce(c."version", '') AS version, coalesce(c."purl", '') AS purl
      FROM "components" c JOIN "evidence_documents" d ON d.id = c."document_id" AND d."withdrawn_at" IS NULL) k;

INSERT INTO "package_images" ("package_version_id", "image_id")
SELECT DISTINCT pv.id, c."image_id"
FROM "components" c
JOIN "evidence_documents" d ON d.id = c."document_id" AND d."withdrawn_at" IS NULL
JOIN "package_versions" pv ON pv."name_key" = c."name_key" AND pv."purl_key" = coalesce(c."purl_key", '') AND pv."ecosystem" = coalesce(c."ecosystem", '')
                      AND pv."version" = coalesce(c."version", '') AND pv."purl" = coalesce(c."purl", '');

ALTER TABLE "package_versions" ADD CONSTRAINT "package_versions_pkey" PRIMARY KEY ("id");
CREATE UNIQUE INDEX "package_versions_key_hash_key" ON "package_versions"("key_hash");
CREATE INDEX "package_versions_name_key_idx" ON "package_versions"("name_key");
CREATE INDEX "package_versions_purl_key_idx" ON "package_versions"("purl_key");
ALTER TABLE "package_images" ADD CONSTRAINT "package_images_pkey" PRIMARY KEY ("package_version_id", "image_id");
CREATE INDEX "package_images_image_id_idx" ON "package_images"("image_id");
ALTER TABLE "package_images" ADD CONSTRAINT "package_images_package_version_id_fkey" FOREIGN KEY ("package_version_id") REFERENCES "package_versions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "package_images" ADD CONSTRAINT "package_images_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "images"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- An index entry is an attestation manifest only when buildx marks it so (security review, session 15): platform
-- unknown/unknown, annotation "vnd.docker.reference.type": "attestation-manifest", and "vnd.docker.reference.digest"
-- naming another entry of the same index (lib/oci/manifest.ts isAttestationEntry). Before, every unknown/unknown entry
-- was taken for one, and its scan was not required. Sync now records the mark as "attestation": true on the entry in
-- images.platforms; this marks the entries of indexes synced before, from the manifest stored with them. An index
-- whose stored manifest cannot be read as JSON keeps its entries unmarked: they then need a scan (fail closed).
DO $$
DECLARE
  r record;
  doc jsonb;
BEGIN
  FOR r IN
    SELECT id, manifest, platforms FROM images
    WHERE jsonb_typeof(platforms) = 'array'
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(platforms) e WHERE e->>'os' = 'unknown' AND e->>'architecture' = 'unknown')
  LOOP
    BEGIN
      doc := convert_from(r.manifest, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
      CONTINUE;
    END;
    IF jsonb_typeof(doc->'manifests') IS DISTINCT FROM 'array' THEN
      CONTINUE;
    END IF;
    UPDATE images SET platforms = (
      SELECT jsonb_agg(
               CASE WHEN p->>'os' = 'unknown' AND p->>'architecture' = 'unknown' AND EXISTS (
                      SELECT 1 FROM jsonb_array_elements(doc->'manifests') WITH ORDINALITY AS d(e, n)
                      WHERE d.n = x.ord
                        AND d.e->>'digest' = p->>'digest'
                        AND d.e->'platform'->>'os' = 'unknown' AND d.e->'platform'->>'architecture' = 'unknown'
                        AND d.e->'annotations'->>'vnd.docker.reference.type' = 'attestation-manifest'
                        AND d.e->'annotations'->>'vnd.docker.reference.digest' IS DISTINCT FROM d.e->>'digest'
                        AND EXISTS (SELECT 1 FROM jsonb_array_elements(doc->'manifests') WITH ORDINALITY AS o(e, n)
                                    WHERE o.n <> d.n AND o.e->>'digest' = d.e->'annotations'->>'vnd.docker.reference.digest'))
                    THEN p || '{"attestation": true}'::jsonb ELSE p END
               ORDER BY x.ord)
      FROM jsonb_array_elements(r.platforms) WITH ORDINALITY AS x(p, ord)
    )
    WHERE id = r.id;
  END LOOP;
END $$;

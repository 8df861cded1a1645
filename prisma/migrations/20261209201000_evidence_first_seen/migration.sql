-- Scan-age replay (security review, session 15): a scan's age counted from its upload when it states no time, so the
-- same signed scan uploaded again (the same payload in a new DSSE wrapper: signatures reordered, the envelope's JSON
-- reformatted) got a fresh upload time and passed a "scan younger than N hours" gate forever. A document now carries
-- the sha256 of what is signed (its payload) and the time Imprimatur first received that payload for the same subject.

-- AlterTable
ALTER TABLE "evidence_documents" ADD COLUMN "payload_digest" TEXT,
ADD COLUMN "first_seen_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE INDEX "evidence_documents_payload_digest_idx" ON "evidence_documents"("payload_digest");

-- Backfill. A DSSE envelope (or a Sigstore bundle's dsseEnvelope) stored whole: its payload's sha256 (standard or
-- URL-safe base64, padded or not, as lib/evidence/dsse.ts reads it). Anything else, or a row whose bytes do not read
-- back: its own content digest (the document's bytes are what it is).
DO $$
DECLARE
  r record;
  env jsonb;
  p text;
BEGIN
  UPDATE evidence_documents SET payload_digest = content_digest WHERE format <> 'dsse' OR raw_chunks > 0;
  FOR r IN SELECT id, raw, content_digest FROM evidence_documents WHERE payload_digest IS NULL LOOP
    BEGIN
      env := convert_from(r.raw, 'UTF8')::jsonb;
      p := coalesce(env->>'payload', env->'dsseEnvelope'->>'payload');
      p := translate(p, '-_', '+/');
      p := p || repeat('=', (4 - length(p) % 4) % 4);
      UPDATE evidence_documents SET payload_digest = 'sha256:' || encode(sha256(decode(p, 'base64')), 'hex') WHERE id = r.id;
    EXCEPTION WHEN others THEN
      UPDATE evidence_documents SET payload_digest = r.content_digest WHERE id = r.id;
    END;
  END LOOP;
  UPDATE evidence_documents SET payload_digest = content_digest WHERE payload_digest IS NULL;
END $$;

-- The earliest upload of each payload for each subject (the digest it names, else the image it was filed on).
UPDATE evidence_documents d SET first_seen_at = f.first_seen_at
FROM (
  SELECT d2.id, min(d2.uploaded_at) OVER (PARTITION BY d2.payload_digest, coalesce(d2.subject_digest, i.digest)) AS first_seen_at
  FROM evidence_documents d2 JOIN images i ON i.id = d2.image_id
) f
WHERE f.id = d.id;

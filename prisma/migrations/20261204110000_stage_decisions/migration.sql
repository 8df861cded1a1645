-- Decisions computed ahead (issue 17): one row per (image, stage) that has approvals, saying whether the stage is
-- passed, why, and until when. Triggers keep it current in the same transaction as every change it depends on
-- (approvals: approval, signature push, every revocation; signatures: sync, trust change, layer removal; stages:
-- TTL and name; stage_risks: re-evaluation; users: the approver's name). Expiry needs no job: a row whose
-- valid_until has passed is recomputed by the reader (stage_decision_now).
--
-- "Has this image passed this stage" is written once, here, in stage_decision(); the TypeScript reads it
-- (lib/server/admission/evaluate-image.ts, lib/server/images/stage-status.ts) and so do the list and search SQL.

-- CreateTable
CREATE TABLE "stage_decisions" (
    "image_id" UUID NOT NULL,
    "stage_id" UUID NOT NULL,
    "digest" TEXT NOT NULL,
    "allowed" BOOLEAN NOT NULL,
    "state" TEXT NOT NULL,
    "detail" TEXT NOT NULL,
    "reasons" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "approver" TEXT,
    "approved_at" TIMESTAMPTZ(3),
    "expires_at" TIMESTAMPTZ(3),
    "valid_until" TIMESTAMPTZ(3),
    "computed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stage_decisions_pkey" PRIMARY KEY ("image_id","stage_id")
);

-- CreateIndex
CREATE INDEX "stage_decisions_digest_stage_id_idx" ON "stage_decisions"("digest", "stage_id");

-- CreateIndex
CREATE INDEX "stage_decisions_stage_id_allowed_idx" ON "stage_decisions"("stage_id", "allowed");

-- AddForeignKey
ALTER TABLE "stage_decisions" ADD CONSTRAINT "stage_decisions_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "images"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stage_decisions" ADD CONSTRAINT "stage_decisions_stage_id_fkey" FOREIGN KEY ("stage_id") REFERENCES "stages"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- JavaScript's Date.prototype.toISOString for a timestamptz(3), so reasons read the same as before.
CREATE FUNCTION imprimatur_iso(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The decision for one (image, stage) at time p_now. The rules (formerly stageStatuses() in TypeScript):
-- a stage counts as passed only when an approval's signature is in the registry and verifies, the approval is not
-- revoked and, when the stage sets approval_ttl_days, not expired (by its trusted time: the TSA's, else our
-- record's). The newest approval that counts wins; when none does, the newest approval says why.
-- valid_until: the first instant at which time alone could change the answer (an approval expiring); null = never.
CREATE FUNCTION stage_decision(p_image uuid, p_stage uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (allowed boolean, state text, detail text, reasons text[], approver text, approved_at timestamptz, expires_at timestamptz, valid_until timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  st record;
  a record;
  newest record;
  good record;
  pending record;
  signed_a record;
  good_sig record;
  risk record;
  found_newest boolean := false;
  has_good boolean := false;
  has_pending boolean := false;
  has_signed boolean := false;
  has_risk boolean := false;
  e timestamptz;
  vu timestamptz := NULL;
  d text;
  warn text;
BEGIN
  SELECT s.name, s.approval_ttl_days AS ttl INTO st FROM stages s WHERE s.id = p_stage;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR a IN
    SELECT ap.status::text AS status, ap.layer_digest, ap.created_at, ap.signed_at, ap.revoked_at, ap.revoked_by, ap.revocation_reason,
           COALESCE(ap.timestamp_at, ap.created_at) AS trusted_at, ap.timestamp_at IS NOT NULL AS by_tsa, u.name AS approver_name,
           CASE WHEN st.ttl IS NULL THEN NULL ELSE COALESCE(ap.timestamp_at, ap.created_at) + st.ttl * interval '24 hours' END AS expiry,
           sg.verdict, sg.key_name, sg.layer_digest IS NOT NULL AS has_sig
    FROM approvals ap
    JOIN users u ON u.id = ap.approver_id
    LEFT JOIN signatures sg ON sg.image_id = ap.image_id AND sg.layer_digest = ap.layer_digest
    WHERE ap.image_id = p_image AND ap.stage_id = p_stage
    ORDER BY ap.created_at DESC, ap.id
  LOOP
    IF NOT found_newest THEN
      newest := a;
      found_newest := true;
    END IF;
    -- Only live (not revoked), not yet expired approvals count.
    CONTINUE WHEN a.revoked_at IS NOT NULL OR (a.expiry IS NOT NULL AND p_now >= a.expiry);
    IF a.expiry IS NOT NULL AND (vu IS NULL OR a.expiry < vu) THEN
      vu := a.expiry;
    END IF;
    IF NOT has_good AND a.status = 'signed' AND a.verdict = 'verified' THEN
      good := a;
      has_good := true;
    END IF;
    IF NOT has_pending AND a.status = 'signing' THEN
      pending := a;
      has_pending := true;
    END IF;
    IF NOT has_signed AND a.status = 'signed' THEN
      signed_a := a;
      has_signed := true;
    END IF;
  END LOOP;

  IF has_good THEN
    e := good.expiry;
    d := 'signed by ' || COALESCE(good.key_name, 'stage key') || CASE WHEN e IS NULL THEN '' ELSE ', valid until ' || imprimatur_iso(e) END;
    SELECT r.since, r.reasons, r.revoke_at INTO risk FROM stage_risks r WHERE r.image_id = p_image AND r.stage_id = p_stage;
    has_risk := FOUND;
    -- A stage at risk still allows under onRegression "flag", with a warning (lib/server/reevaluation).
    warn := CASE WHEN NOT has_risk THEN NULL ELSE
      'warning: at risk since ' || imprimatur_iso(risk.since) || ', the gates of ' || st.name || ' no longer hold'
      || CASE WHEN risk.revoke_at IS NULL THEN '' ELSE ' (revoked at ' || imprimatur_iso(risk.revoke_at) || ' unless waived)' END
      || ': ' || array_to_string(risk.reasons, '; ') END;
    RETURN QUERY SELECT true, 'approved'::text, d,
      ARRAY['stage ' || st.name || ' passed: ' || d || CASE WHEN COALESCE(good.approver_name, '') = '' THEN '' ELSE ', approved by ' || good.approver_name END]
        || CASE WHEN warn IS NULL THEN ARRAY[]::text[] ELSE ARRAY[warn] END,
      good.approver_name, COALESCE(good.signed_at, good.created_at), e, vu;
    RETURN;
  END IF;
  IF has_pending THEN
    RETURN QUERY SELECT false, 'signature pending'::text, 'approved; the signature is not yet in the registry'::text,
      ARRAY['stage ' || st.name || ' was approved but its signature is not yet in the registry'], pending.approver_name, NULL::timestamptz, NULL::timestamptz, vu;
    RETURN;
  END IF;
  IF NOT found_newest THEN
    RETURN QUERY SELECT false, 'not approved'::text, 'no approval'::text, ARRAY['stage ' || st.name || ' has no approval for this digest'], NULL::text, NULL::timestamptz, NULL::timestamptz, vu;
    RETURN;
  END IF;
  -- (newest is assigned from here on; plpgsql cannot read a field of an unassigned record, even behind AND.)
  IF newest.revoked_at IS NOT NULL THEN
    d := 'revoked ' || imprimatur_iso(newest.revoked_at)
      || CASE WHEN COALESCE(newest.revoked_by, '') = '' THEN '' ELSE ' by ' || newest.revoked_by END
      || CASE WHEN COALESCE(newest.revocation_reason, '') = '' THEN '' ELSE ': ' || newest.revocation_reason END;
    -- An accepted revocation denies at once, before the registry has lost the layer (it may be down: "pending").
    RETURN QUERY SELECT false, 'revoked'::text, d, ARRAY['stage ' || st.name || ' approval revoked: ' || d], newest.approver_name, NULL::timestamptz, NULL::timestamptz, vu;
    RETURN;
  END IF;
  IF newest.expiry IS NOT NULL AND p_now >= newest.expiry THEN
    d := 'approved ' || imprimatur_iso(newest.trusted_at) || ' (' || CASE WHEN newest.by_tsa THEN 'time trusted by the TSA' ELSE 'Imprimatur''s record' END
      || '); stage ' || st.name || ' approvals last ' || st.ttl || ' day' || CASE WHEN st.ttl = 1 THEN '' ELSE 's' END
      || ', so it expired ' || imprimatur_iso(newest.expiry) || '; request the promotion again';
    RETURN QUERY SELECT false, 'approval expired'::text, d, ARRAY['stage ' || st.name || ' approval expired: ' || d], newest.approver_name, NULL::timestamptz, newest.expiry, vu;
    RETURN;
  END IF;
  IF has_signed THEN
    d := CASE WHEN signed_a.has_sig THEN signed_a.verdict ELSE 'the signature layer is missing from the registry' END;
    RETURN QUERY SELECT false, 'signed, not verified'::text, d,
      ARRAY['stage ' || st.name || ' was signed but the signature does not verify in the registry (' || d || ')'], signed_a.approver_name, NULL::timestamptz, NULL::timestamptz, vu;
    RETURN;
  END IF;
  RETURN QUERY SELECT false, 'not approved'::text, 'no approval'::text, ARRAY['stage ' || st.name || ' has no approval for this digest'], NULL::text, NULL::timestamptz, NULL::timestamptz, vu;
END;
$$;

-- The decision as of now: the stored row while it is valid, else computed (expiry, or an image with no approvals).
CREATE FUNCTION stage_decision_now(p_image uuid, p_stage uuid)
RETURNS TABLE (allowed boolean, state text, detail text, reasons text[], approver text, approved_at timestamptz, expires_at timestamptz, valid_until timestamptz)
LANGUAGE sql STABLE AS $$
  (SELECT d.allowed, d.state, d.detail, d.reasons, d.approver, d.approved_at, d.expires_at, d.valid_until
     FROM stage_decisions d WHERE d.image_id = p_image AND d.stage_id = p_stage AND (d.valid_until IS NULL OR d.valid_until > now())
   UNION ALL
   SELECT * FROM stage_decision(p_image, p_stage))
  LIMIT 1
$$;

-- Recompute and store one (image, stage); with no approval left the row goes (absence = "not approved").
CREATE FUNCTION refresh_stage_decision(p_image uuid, p_stage uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_image IS NULL OR p_stage IS NULL THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM approvals WHERE image_id = p_image AND stage_id = p_stage) THEN
    DELETE FROM stage_decisions WHERE image_id = p_image AND stage_id = p_stage;
    RETURN;
  END IF;
  INSERT INTO stage_decisions AS t (image_id, stage_id, digest, allowed, state, detail, reasons, approver, approved_at, expires_at, valid_until, computed_at)
  SELECT p_image, p_stage, i.digest, f.allowed, f.state, f.detail, f.reasons, f.approver, f.approved_at, f.expires_at, f.valid_until, now()
  FROM images i, stage_decision(p_image, p_stage) f WHERE i.id = p_image
  ON CONFLICT (image_id, stage_id) DO UPDATE SET digest = EXCLUDED.digest, allowed = EXCLUDED.allowed, state = EXCLUDED.state, detail = EXCLUDED.detail,
    reasons = EXCLUDED.reasons, approver = EXCLUDED.approver, approved_at = EXCLUDED.approved_at, expires_at = EXCLUDED.expires_at,
    valid_until = EXCLUDED.valid_until, computed_at = EXCLUDED.computed_at;
END;
$$;

-- Every stage of one image that has approvals or a stored decision.
CREATE FUNCTION refresh_image_decisions(p_image uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s uuid;
BEGIN
  FOR s IN SELECT stage_id FROM approvals WHERE image_id = p_image UNION SELECT stage_id FROM stage_decisions WHERE image_id = p_image LOOP
    PERFORM refresh_stage_decision(p_image, s);
  END LOOP;
END;
$$;

CREATE FUNCTION stage_decisions_on_approval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM refresh_stage_decision(OLD.image_id, OLD.stage_id);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT' OR NEW.image_id <> OLD.image_id OR NEW.stage_id <> OLD.stage_id) THEN
    PERFORM refresh_stage_decision(NEW.image_id, NEW.stage_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER stage_decisions_approvals AFTER INSERT OR DELETE OR UPDATE OF image_id, stage_id, approver_id, status, layer_digest, created_at, signed_at, revoked_at, revoked_by, revocation_reason, timestamp_at
  ON approvals FOR EACH ROW EXECUTE FUNCTION stage_decisions_on_approval();

CREATE FUNCTION stage_decisions_on_signature() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM refresh_image_decisions(OLD.image_id);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.image_id <> OLD.image_id) THEN
    PERFORM refresh_image_decisions(NEW.image_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER stage_decisions_signatures_write AFTER INSERT OR DELETE ON signatures FOR EACH ROW EXECUTE FUNCTION stage_decisions_on_signature();
-- A sync re-writes every signature row; only a change of what the decision reads recomputes.
CREATE TRIGGER stage_decisions_signatures_update AFTER UPDATE ON signatures FOR EACH ROW
  WHEN (OLD.image_id IS DISTINCT FROM NEW.image_id OR OLD.layer_digest IS DISTINCT FROM NEW.layer_digest OR OLD.verdict IS DISTINCT FROM NEW.verdict OR OLD.key_name IS DISTINCT FROM NEW.key_name)
  EXECUTE FUNCTION stage_decisions_on_signature();

CREATE FUNCTION stage_decisions_on_risk() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM refresh_stage_decision(OLD.image_id, OLD.stage_id);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM refresh_stage_decision(NEW.image_id, NEW.stage_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER stage_decisions_stage_risks AFTER INSERT OR DELETE OR UPDATE OF image_id, stage_id, since, reasons, revoke_at
  ON stage_risks FOR EACH ROW EXECUTE FUNCTION stage_decisions_on_risk();

CREATE FUNCTION stage_decisions_on_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE i uuid;
BEGIN
  FOR i IN SELECT DISTINCT image_id FROM approvals WHERE stage_id = NEW.id LOOP
    PERFORM refresh_stage_decision(i, NEW.id);
  END LOOP;
  RETURN NULL;
END;
$$;
CREATE TRIGGER stage_decisions_stages AFTER UPDATE OF name, approval_ttl_days ON stages FOR EACH ROW
  WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.approval_ttl_days IS DISTINCT FROM NEW.approval_ttl_days)
  EXECUTE FUNCTION stage_decisions_on_stage();

CREATE FUNCTION stage_decisions_on_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p record;
BEGIN
  FOR p IN SELECT DISTINCT image_id, stage_id FROM approvals WHERE approver_id = NEW.id LOOP
    PERFORM refresh_stage_decision(p.image_id, p.stage_id);
  END LOOP;
  RETURN NULL;
END;
$$;
CREATE TRIGGER stage_decisions_users AFTER UPDATE OF name ON users FOR EACH ROW
  WHEN (OLD.name IS DISTINCT FROM NEW.name)
  EXECUTE FUNCTION stage_decisions_on_user();

-- Backfill.
SELECT refresh_stage_decision(x.image_id, x.stage_id) FROM (SELECT DISTINCT image_id, stage_id FROM approvals) x;

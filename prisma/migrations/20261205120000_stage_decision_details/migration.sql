-- "Has this image passed this stage" is written once (issue 11, item 3): the TypeScript copy of the rules
-- (stageStatuses) is gone and the image page, the gate facts and "my images" read stage_decisions /
-- stage_decision_now() like verify, ImageReview, the image list and package search do. What the decision rests on
-- beyond its rows is defined here too, once:
--
-- * an approval's trusted time (the TSA's RFC 3161 time when its signature carries a token, else Imprimatur's record
--   of the approval) and where it comes from: generated columns, so SQL and TypeScript read the same value and a
--   write can never set one that disagrees with its sources (PostgreSQL refuses writes to a generated column);
-- * when an approval stops counting under its stage's TTL: approval_expiry().

-- AlterTable
ALTER TABLE "approvals" ADD COLUMN "trusted_at" TIMESTAMPTZ(3) GENERATED ALWAYS AS (COALESCE("timestamp_at", "created_at")) STORED;
ALTER TABLE "approvals" ADD COLUMN "trusted_by" TEXT GENERATED ALWAYS AS (CASE WHEN "timestamp_at" IS NULL THEN 'record' ELSE 'tsa' END) STORED;

-- The instant an approval with trusted time p_trusted stops counting when its stage's approvals last p_ttl_days
-- days (days of 24 hours); null: it never expires (the stage sets no TTL).
CREATE FUNCTION approval_expiry(p_trusted timestamptz, p_ttl_days integer) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_ttl_days IS NULL OR p_trusted IS NULL THEN NULL ELSE p_trusted + p_ttl_days * interval '24 hours' END
$$;

-- The same rules as 20261204110000_stage_decisions, reading the trusted time and the expiry from their one
-- definition above. Same signature and columns, so every reader (stage_decision_now, refresh_stage_decision, the
-- list, search, verify) is unchanged.
CREATE OR REPLACE FUNCTION stage_decision(p_image uuid, p_stage uuid, p_now timestamptz DEFAULT now())
RETURNS TABLE (allowed boolean, state text, detail text, reasons text[], approver text, approved_at timestamptz, expires_at timestamptz, valid_until timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  st record;
  a record;
  newest record;
  good record;
  pending record;
  signed_a record;
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
           ap.trusted_at, ap.trusted_by = 'tsa' AS by_tsa, u.name AS approver_name,
           approval_expiry(ap.trusted_at, st.ttl) AS expiry,
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

-- Every stage of every image in p_images, in stage order, as of now: the stored decision while it is valid, else
-- computed (an image with no approvals for the stage, e.g. an index whose platforms are shown, or a row past its
-- valid_until). What the image page, the gate facts and "my images" show.
CREATE FUNCTION stage_decisions_for(p_images uuid[])
RETURNS TABLE (image_id uuid, stage_id uuid, stage text, "position" integer, allowed boolean, state text, detail text, reasons text[], approver text, approved_at timestamptz, expires_at timestamptz, valid_until timestamptz)
LANGUAGE sql STABLE AS $$
  SELECT x.id, s.id, s.name, s.position, d.allowed, d.state, d.detail, d.reasons, d.approver, d.approved_at, d.expires_at, d.valid_until
  FROM unnest(p_images) AS x(id)
  CROSS JOIN stages s
  CROSS JOIN LATERAL stage_decision_now(x.id, s.id) d
  ORDER BY x.id, s.position
$$;

-- Recompute every stored row with the redefined function.
SELECT refresh_stage_decision(x.image_id, x.stage_id) FROM (SELECT DISTINCT image_id, stage_id FROM approvals) x;

-- An approval at risk under onRegression "revoke-after" stops counting when its grace period ends (security review,
-- round 3). Before, stage_decision allowed it, with a warning, until revokeRegressedApprovals revoked it on a scheduler
-- tick (at most 100 per tick, one after the other): verify and ImageReview admitted a digest past its revocation time
-- for as long as that took. Now the decision denies from revoke_at (state "revoked", "revocation due: …"), and a stored decision is valid
-- only until revoke_at, so the reader judges it again then (stage_decision_now). Everything else is as in
-- 20261208170000_approval_ages_from_decision.

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
  SELECT s.name, s.approval_ttl_days AS ttl, s.on_regression INTO st FROM stages s WHERE s.id = p_stage;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR a IN
    SELECT ap.status::text AS status, ap.layer_digest, ap.created_at, ap.signed_at, ap.revoked_at, ap.revoked_by, ap.revocation_reason,
           ap.trusted_at, ap.trusted_by = 'tsa' AS by_tsa, u.name AS approver_name,
           ap.ages_from, approval_expiry(ap.ages_from, st.ttl) AS expiry,
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
    -- revoke-after: past its grace period an approval at risk no longer counts, whether or not the job that revokes it
    -- (revokeRegressedApprovals, on the scheduler tick, 100 at a time) has run yet; until then it counts, with a warning,
    -- and the stored decision is judged again when the grace period ends.
    IF has_risk AND risk.revoke_at IS NOT NULL AND st.on_regression = 'revoke-after' THEN
      IF p_now >= risk.revoke_at THEN
        -- State "revoked", as an accepted revocation whose registry side is still pending.
        d := 'revocation due: at risk since ' || imprimatur_iso(risk.since) || ' and past its grace period (' || imprimatur_iso(risk.revoke_at)
          || '): the gates of ' || st.name || ' no longer hold: ' || array_to_string(risk.reasons, '; ');
        RETURN QUERY SELECT false, 'revoked'::text, d, ARRAY['stage ' || st.name || ' approval revoked: ' || d],
          good.approver_name, NULL::timestamptz, e, vu;
        RETURN;
      END IF;
      IF vu IS NULL OR risk.revoke_at < vu THEN
        vu := risk.revoke_at;
      END IF;
    END IF;
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
      || CASE WHEN newest.ages_from < newest.trusted_at THEN ', decided ' || imprimatur_iso(newest.ages_from) ELSE '' END
      || '); stage ' || st.name || ' approvals last ' || st.ttl || ' day' || CASE WHEN st.ttl = 1 THEN '' ELSE 's' END
      || ' from the decision, so it expired ' || imprimatur_iso(newest.expiry) || '; request the promotion again';
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

-- Stored decisions of approvals at risk are computed again (their valid_until now ends at revoke_at).
SELECT refresh_stage_decision(r.image_id, r.stage_id) FROM (SELECT image_id, stage_id FROM stage_risks ORDER BY image_id, stage_id) r;

-- stage_decision_now without a PL/pgSQL call for the commonest answer at admission: a digest with no approval for
-- the stage (issue 17). Before, every such lookup (verify, ImageReview, the list and search filters) fell through to
-- stage_decision(), a PL/pgSQL function whose call, stage read and approval loop ran per row. The new middle branch
-- gives, in plain SQL the planner inlines, exactly the row stage_decision() returns when the image has no approval
-- for the stage (not approved, 'no approval', the same reason text, every other column NULL); any approval, live or
-- not, still goes to stage_decision() as before, and an unknown stage still gives no row. The branches are tried in
-- order and LIMIT 1 keeps the first row, as before.
CREATE OR REPLACE FUNCTION stage_decision_now(p_image uuid, p_stage uuid)
RETURNS TABLE (allowed boolean, state text, detail text, reasons text[], approver text, approved_at timestamptz, expires_at timestamptz, valid_until timestamptz)
LANGUAGE sql STABLE AS $$
  (SELECT d.allowed, d.state, d.detail, d.reasons, d.approver, d.approved_at, d.expires_at, d.valid_until
     FROM stage_decisions d WHERE d.image_id = p_image AND d.stage_id = p_stage AND (d.valid_until IS NULL OR d.valid_until > now())
   UNION ALL
   SELECT false, 'not approved'::text, 'no approval'::text, ARRAY['stage ' || s.name || ' has no approval for this digest'],
          NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz
     FROM stages s
    WHERE s.id = p_stage AND NOT EXISTS (SELECT 1 FROM approvals a WHERE a.image_id = p_image AND a.stage_id = p_stage)
   UNION ALL
   SELECT * FROM stage_decision(p_image, p_stage))
  LIMIT 1
$$;

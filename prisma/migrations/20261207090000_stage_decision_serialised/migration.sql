-- Writers of one (image, stage) decision are serialised (security review, session 13).
--
-- Each trigger computed the decision from its own statement's snapshot and wrote it with INSERT … ON CONFLICT DO
-- UPDATE. Under READ COMMITTED two transactions writing the same (image, stage) lost an update: a revocation stored
-- "revoked" and went on to wait for the audit chain's lock; a signature write for the same image (a sync) computed the
-- decision from a snapshot without the revocation, waited on the row, and when the revocation committed overwrote
-- "revoked" with "approved", which verify and ImageReview then served.
--
-- Now every refresh first takes a transaction-scoped advisory lock on the (image, stage) in a statement of its own
-- (first key 0x5de0 = ADVISORY_LOCKS.stageDecision in lib/server/advisory-locks.ts), so the statements that follow
-- take their snapshot after the other writer committed: the second writer computes from the first's result. The lock
-- is held to commit, as the row lock it precedes was. Loops over several pairs go in a fixed order (image, then
-- stage) so that two such loops cannot wait on each other in a cycle.
CREATE OR REPLACE FUNCTION refresh_stage_decision(p_image uuid, p_stage uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF p_image IS NULL OR p_stage IS NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(24032, hashtext(p_image::text || '/' || p_stage::text));
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

CREATE OR REPLACE FUNCTION refresh_image_decisions(p_image uuid) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s uuid;
BEGIN
  FOR s IN SELECT x.stage_id FROM (SELECT stage_id FROM approvals WHERE image_id = p_image UNION SELECT stage_id FROM stage_decisions WHERE image_id = p_image) x
           ORDER BY x.stage_id LOOP
    PERFORM refresh_stage_decision(p_image, s);
  END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION stage_decisions_on_stage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE i uuid;
BEGIN
  FOR i IN SELECT DISTINCT image_id FROM approvals WHERE stage_id = NEW.id ORDER BY image_id LOOP
    PERFORM refresh_stage_decision(i, NEW.id);
  END LOOP;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION stage_decisions_on_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p record;
BEGIN
  FOR p IN SELECT DISTINCT image_id, stage_id FROM approvals WHERE approver_id = NEW.id ORDER BY image_id, stage_id LOOP
    PERFORM refresh_stage_decision(p.image_id, p.stage_id);
  END LOOP;
  RETURN NULL;
END;
$$;

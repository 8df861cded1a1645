-- Staged audit events (denials, admission decisions) leave the outbox only by landing in the hash chain. The app's
-- least-privileged role (scripts/sql/app-role.sql) loses UPDATE and DELETE on audit_outbox: with them it could drop or
-- rewrite a staged event before the fold chained it. The fold calls this function instead, which runs as its owner
-- (the role that migrates) and moves rows: each row's content is copied here from the outbox, never passed in, so a
-- caller chooses only where a row lands (its seq and the hashes Node computed over it, since canonical JSON is not
-- computable in SQL), never what it says, and the call deletes exactly the rows it inserted into audit_events, or
-- nothing. A caller passing wrong hashes breaks the chain, which verification reports; it cannot make a staged event
-- vanish. Hand-written: Prisma has no notation for functions; the schema drift test ignores them.
CREATE FUNCTION "audit_fold_outbox"("ids" BIGINT[], "seqs" BIGINT[], "prev_hashes" TEXT[], "hashes" TEXT[]) RETURNS INTEGER
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  n INTEGER := coalesce(cardinality("ids"), 0);
  moved INTEGER;
  removed INTEGER;
BEGIN
  IF coalesce(cardinality("seqs"), 0) <> n OR coalesce(cardinality("prev_hashes"), 0) <> n OR coalesce(cardinality("hashes"), 0) <> n THEN
    RAISE EXCEPTION 'audit_fold_outbox: ids, seqs, prev_hashes and hashes must have the same length'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO "audit_events" ("seq", "at", "actor_type", "actor_id", "actor_label", "action", "outcome", "target_digest", "target", "detail", "prev_hash", "hash")
    SELECT f."seq", o."at", o."actor_type", o."actor_id", o."actor_label", o."action", o."outcome", o."target_digest", o."target", o."detail", f."prev_hash", f."hash"
    FROM unnest("ids", "seqs", "prev_hashes", "hashes") AS f("id", "seq", "prev_hash", "hash")
    JOIN "audit_outbox" o ON o."id" = f."id";
  GET DIAGNOSTICS moved = ROW_COUNT;
  DELETE FROM "audit_outbox" WHERE "id" = ANY ("ids");
  GET DIAGNOSTICS removed = ROW_COUNT;
  -- An id that is not staged (or no longer: another fold took it) or named twice: nothing of this call may stay.
  IF moved <> n OR removed <> n THEN
    RAISE EXCEPTION 'audit_fold_outbox: % id(s) given, % chained, % removed from the outbox', n, moved, removed
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN n;
END;
$$;

-- A SECURITY DEFINER function resolves names through its own search_path, pinned to this schema with pg_temp last: a
-- caller's temporary table named audit_outbox or audit_events is never the one it reads or writes.
DO $$ BEGIN
  EXECUTE format('ALTER FUNCTION "audit_fold_outbox"(BIGINT[], BIGINT[], TEXT[], TEXT[]) SET search_path = %I, pg_temp', current_schema());
END $$;

-- Functions are executable by PUBLIC unless revoked; app-role.sql grants it to imprimatur_app alone.
REVOKE ALL ON FUNCTION "audit_fold_outbox"(BIGINT[], BIGINT[], TEXT[], TEXT[]) FROM PUBLIC;

-- An install that already runs as imprimatur_app keeps folding across the upgrade (and loses UPDATE and DELETE on the
-- outbox now), without waiting for app-role.sql to be run again.
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imprimatur_app') THEN
    GRANT EXECUTE ON FUNCTION "audit_fold_outbox"(BIGINT[], BIGINT[], TEXT[], TEXT[]) TO imprimatur_app;
    REVOKE UPDATE, DELETE ON "audit_outbox" FROM imprimatur_app;
  END IF;
END $$;

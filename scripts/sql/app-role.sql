-- Least-privilege database roles for Imprimatur (README: "For managers and auditors" → least privilege).
--
-- Run as the owner of the schema (the role that runs `npx imprimatur migrate`), after migrating, and again after
-- every upgrade that adds tables. The app then connects as imprimatur_app (DATABASE_URL), migrations keep running as
-- the owner. Only a table's owner (or a superuser) can ALTER TABLE … DISABLE TRIGGER or DROP TRIGGER, so the app's
-- role cannot switch off the append-only triggers of audit_events; it may only read and append the trail.
-- A superuser still can: that is what the checkpoints in the registry are for.
--
-- Set the password separately:  ALTER ROLE imprimatur_app PASSWORD '…';
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'imprimatur_app') THEN
    CREATE ROLE imprimatur_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO imprimatur_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO imprimatur_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO imprimatur_app;
-- The audit trail: read and append only.
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM imprimatur_app;
-- The staging outbox: insert and read only. A staged event (a denial, an admission decision) leaves it only by landing
-- in the chain, through audit_fold_outbox (migration 20261212000000_audit_outbox_fold), which runs as the owner.
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_outbox FROM imprimatur_app;
GRANT EXECUTE ON FUNCTION audit_fold_outbox(BIGINT[], BIGINT[], TEXT[], TEXT[]) TO imprimatur_app;
-- The migrations table belongs to the owner.
REVOKE INSERT, UPDATE, DELETE ON _prisma_migrations FROM imprimatur_app;
-- pg-boss keeps its jobs in its own schema, created on first start by the owner (start once as the owner, or create
-- the schema "pgboss" owned by imprimatur_app beforehand).

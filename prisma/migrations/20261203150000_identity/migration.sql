-- OpenID Connect accounts and scoped API tokens.
ALTER TABLE "users" ADD COLUMN "oidc_subject" TEXT;
ALTER TABLE "users" ADD COLUMN "last_sign_in_at" TIMESTAMPTZ(3);
CREATE UNIQUE INDEX "users_oidc_subject_key" ON "users"("oidc_subject");

ALTER TABLE "api_tokens" ADD COLUMN "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[];
-- Tokens made before scopes existed acted with their user's full role; they keep doing so (the role still caps them).
UPDATE "api_tokens" SET "scopes" = ARRAY['read','evidence','request','review','admission','admin'];

-- Users are disabled, never deleted, while the audit trail names them (as actor or as target). Hand-written: Prisma has
-- no notation for triggers; the schema drift test ignores triggers and functions.
CREATE FUNCTION "users_refuse_delete_if_audited"() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM "audit_events" WHERE "actor_id" = OLD."id"::text OR "target" = OLD."email")
     OR EXISTS (SELECT 1 FROM "audit_outbox" WHERE "actor_id" = OLD."id"::text OR "target" = OLD."email") THEN
    RAISE EXCEPTION 'user % is named by audit events: disable it instead of deleting it', OLD."email"
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN OLD;
END;
$$;
CREATE TRIGGER "users_refuse_delete_if_audited" BEFORE DELETE ON "users"
  FOR EACH ROW EXECUTE FUNCTION "users_refuse_delete_if_audited"();

-- OpenID Connect accounts and scoped API tokens.
ALTER TABLE "users" ADD COLUMN "oidc_subject" TEXT;
ALTER TABLE "users" ADD COLUMN "last_sign_in_at" TIMESTAMPTZ(3);
CREATE UNIQUE INDEX "users_oidc_subject_key" ON "users"("oidc_subject");

ALTER TABLE "api_tokens" ADD COLUMN "scopes" TEXT[] DEFAULT ARRAY[]::TEXT[];
-- Tokens made before scopes existed acted with their user's full role; they keep doing so (the role still caps them).
UPDATE "api_tokens" SET "scopes" = ARRAY['read','evidence','request','review','admission','admin'];

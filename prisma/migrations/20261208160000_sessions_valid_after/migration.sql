-- Sessions are stateless JWT cookies; a password reset or a disable must still end the sessions signed in before it.
-- A session whose sign-in time is before sessions_valid_after is refused (lib/auth.ts, actorForUserId).
ALTER TABLE "users" ADD COLUMN "sessions_valid_after" TIMESTAMPTZ(3);

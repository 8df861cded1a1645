-- Who set each user's current password. NULL or the user's own id: they chose it (or the operator did, with the CLI,
-- who holds the database and the signing keys anyway). Another user's id: an administrator chose it, so it is a
-- temporary password that someone else knows; until its owner sets their own, the account may sign in but not review,
-- approve, grant waivers, break glass or make review/admin-scope tokens (lib/server/users/password-standing.ts).
ALTER TABLE "users" ADD COLUMN "password_set_by_id" UUID;
ALTER TABLE "users" ADD CONSTRAINT "users_password_set_by_id_fkey" FOREIGN KEY ("password_set_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

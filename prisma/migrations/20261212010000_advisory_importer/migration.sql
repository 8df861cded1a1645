-- Who imported each advisory version, as an account id (imported_by stays the label the audit and the page show).
-- Four eyes: a findings gate fails for a request whose requester, approver or build author last imported an advisory
-- concerning the image (their own "withdrawn" record would otherwise clear the gate they are checked by), and the
-- feed replaces a version an account imported. Null: the feed, the system or the CLI.
ALTER TABLE "advisories" ADD COLUMN "imported_by_id" UUID;

-- Versions imported before this column existed: the account is found by the label it was recorded under
-- (actorLabel: the email, with " (token)" or " (client certificate)" when signed in so).
UPDATE "advisories" a SET "imported_by_id" = u."id"
FROM "users" u
WHERE a."imported_by" IN (u."email", u."email" || ' (token)', u."email" || ' (client certificate)');

CREATE INDEX "advisories_imported_by_id_idx" ON "advisories"("imported_by_id");

-- Standing approvals may rest on such a version imported by their own requester or approver: judge every image again
-- (image_id NULL: all of them) at the worker's next tick, which flags those whose gates no longer hold.
INSERT INTO "reevaluation_requests" ("image_id", "trigger")
SELECT NULL, 'advisory' WHERE EXISTS (SELECT 1 FROM "advisories" WHERE "imported_by_id" IS NOT NULL);

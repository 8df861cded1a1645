-- Password lineage: the other users from whom an account's current password credential descends. An administrator who
-- sets someone's password knows it, and when the owner later "sets their own" (changeOwnPassword, which asks only for
-- the current password) nothing proves the one changing it is the owner: the administrator may have done it. So for
-- four eyes the account counts as those users too, until the operator resets its password with the CLI. An array, not
-- one id: when Y, whose password X set, sets Z's password, Z's descends from both Y and X (whoever signed in as Y).
-- Not a foreign key (an array cannot be one); users are disabled, not deleted, and a vanished id matches nobody.
-- lib/server/users/password-standing.ts and lib/server/promotions/password-lineage.ts.
ALTER TABLE "users" ADD COLUMN "password_lineage_ids" UUID[] NOT NULL DEFAULT ARRAY[]::UUID[];
UPDATE "users" SET "password_lineage_ids" = ARRAY["password_set_by_id"]
 WHERE "password_set_by_id" IS NOT NULL AND "password_set_by_id" <> "id";

-- Each review records its reviewer's lineage when it was given: approvals are counted on it, so a later routine reset
-- of a reviewer's password does not put approvals they gave with their own credentials at risk. Reviews of open
-- requests take their reviewer's lineage now (what the next review will judge); decided ones none (there was none).
ALTER TABLE "reviews" ADD COLUMN "reviewer_lineage_ids" UUID[] NOT NULL DEFAULT ARRAY[]::UUID[];
UPDATE "reviews" v SET "reviewer_lineage_ids" = u."password_lineage_ids"
  FROM "users" u, "promotion_requests" pr
 WHERE u."id" = v."reviewer_id" AND pr."id" = v."request_id" AND pr."status" = 'open' AND cardinality(u."password_lineage_ids") > 0;

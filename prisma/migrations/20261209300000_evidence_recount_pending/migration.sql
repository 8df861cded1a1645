-- A one-off recount of registry evidence, owed once per database (review 15). Migration 20261208150000 added
-- evidence_documents.not_counted but could not fill it: whether a repository is covered by evidence-uploader rules is
-- a glob match done in Node (matchScope), not in SQL. Registry evidence stored before it therefore counted until an
-- admin saved the rules. This row says the recount is owed; the first replica to see it (start-up or the scheduler
-- tick, lib/server/evidence/run-pending-evidence-recount.ts) recounts under the evidence-uploader-rules advisory lock
-- and deletes the row in the same transaction, as does any save of the rules (which recounts everything anyway).
CREATE TABLE "evidence_recount_pending" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "reason" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "evidence_recount_pending_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "evidence_recount_pending_one_row" CHECK ("id" = 1)
);

INSERT INTO "evidence_recount_pending" ("id", "reason")
VALUES (1, 'migration 20261208150000_evidence_not_counted: registry evidence stored before it was never judged by the uploader rules');

-- The images with a not-counted document (few: unsigned registry evidence on covered repositories). Views that mark
-- or leave out such evidence probe it per image; with none, the probe reads an empty index.
CREATE INDEX "evidence_documents_not_counted_image_idx" ON "evidence_documents"("image_id") WHERE "not_counted" IS NOT NULL;

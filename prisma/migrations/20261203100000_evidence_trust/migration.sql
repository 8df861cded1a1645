-- Evidence trust: the image config's layer diff IDs (base-image gate), withdrawn evidence (kept, no longer counted),
-- and the rules saying which groups may attach evidence to which repositories.
ALTER TABLE "images" ADD COLUMN "diff_ids" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "evidence_documents" ADD COLUMN "withdrawn_at" TIMESTAMPTZ(3);
ALTER TABLE "evidence_documents" ADD COLUMN "withdrawn_by" TEXT;
ALTER TABLE "evidence_documents" ADD COLUMN "withdraw_reason" TEXT;

CREATE TABLE "evidence_uploader_rules" (
    "id" UUID NOT NULL,
    "pattern" TEXT NOT NULL,
    "group_id" UUID NOT NULL,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "evidence_uploader_rules_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "evidence_uploader_rules_pattern_group_id_key" ON "evidence_uploader_rules"("pattern", "group_id");
ALTER TABLE "evidence_uploader_rules" ADD CONSTRAINT "evidence_uploader_rules_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Time changes all things (issue 12 items 4, 6, 7): OSV advisories matched to SBOM components as findings,
-- re-evaluation of approved images (stage risks, per-stage onRegression), and bulk revocations.
ALTER TABLE "stages" ADD COLUMN "on_regression" TEXT NOT NULL DEFAULT 'flag';
ALTER TABLE "stages" ADD COLUMN "regression_grace_hours" INTEGER NOT NULL DEFAULT 72;

CREATE TABLE "advisories" (
    "id" TEXT NOT NULL,
    "aliases" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "summary" TEXT,
    "severity" TEXT NOT NULL,
    "cvss_score" DOUBLE PRECISION,
    "cvss_vector" TEXT,
    "modified" TIMESTAMPTZ(3) NOT NULL,
    "published" TIMESTAMPTZ(3),
    "withdrawn" TIMESTAMPTZ(3),
    "raw" JSONB NOT NULL,
    "raw_digest" TEXT NOT NULL,
    "imported_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "imported_by" TEXT NOT NULL,
    "package_keys" TEXT[] DEFAULT ARRAY[]::TEXT[],
    CONSTRAINT "advisories_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "advisories_package_keys_idx" ON "advisories" USING GIN ("package_keys");

ALTER TABLE "findings" ALTER COLUMN "document_id" DROP NOT NULL;
ALTER TABLE "findings" ADD COLUMN "advisory_id" TEXT;
ALTER TABLE "findings" ADD CONSTRAINT "findings_advisory_id_fkey" FOREIGN KEY ("advisory_id") REFERENCES "advisories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "findings_advisory_id_idx" ON "findings"("advisory_id");
-- A finding comes from exactly one place: a stored document or an imported advisory.
ALTER TABLE "findings" ADD CONSTRAINT "findings_one_source" CHECK (("document_id" IS NULL) <> ("advisory_id" IS NULL));

CREATE TABLE "stage_risks" (
    "id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "stage_id" UUID NOT NULL,
    "approval_id" UUID NOT NULL,
    "since" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reasons" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "revoke_at" TIMESTAMPTZ(3),
    "checked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "stage_risks_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "stage_risks_image_id_stage_id_key" ON "stage_risks"("image_id", "stage_id");
CREATE INDEX "stage_risks_approval_id_idx" ON "stage_risks"("approval_id");
CREATE INDEX "stage_risks_revoke_at_idx" ON "stage_risks"("revoke_at");

CREATE TABLE "bulk_revocations" (
    "id" UUID NOT NULL,
    "query" TEXT NOT NULL,
    "stages" TEXT[],
    "reason" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "requested_by_id" UUID,
    "requested_by" TEXT NOT NULL,
    "confirmed_by" TEXT,
    "items" JSONB NOT NULL,
    "total" INTEGER NOT NULL,
    "done" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "outcomes" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    CONSTRAINT "bulk_revocations_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "bulk_revocations_status_idx" ON "bulk_revocations"("status");

CREATE TABLE "reevaluation_requests" (
    "id" BIGSERIAL NOT NULL,
    "image_id" UUID,
    "trigger" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reevaluation_requests_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "reevaluation_requests_image_id_idx" ON "reevaluation_requests"("image_id");

CREATE TABLE "reevaluation_sweeps" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "last_at" TIMESTAMPTZ(3) NOT NULL,
    CONSTRAINT "reevaluation_sweeps_pkey" PRIMARY KEY ("id")
);

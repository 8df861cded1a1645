-- CreateTable: the SLSA verification summary attached to each signed approval (.att, and a bundle referrer).
CREATE TABLE "verification_summaries" (
    "id" UUID NOT NULL,
    "approval_id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "signing_key_id" UUID NOT NULL,
    "envelope" BYTEA NOT NULL,
    "layer_digest" TEXT NOT NULL,
    "bundle" BYTEA,
    "bundle_artifact_digest" TEXT,
    "status" TEXT NOT NULL,
    "last_error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "pushed_at" TIMESTAMPTZ(3),
    "removed_at" TIMESTAMPTZ(3),

    CONSTRAINT "verification_summaries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "verification_summaries_approval_id_key" ON "verification_summaries"("approval_id");

-- CreateIndex
CREATE INDEX "verification_summaries_image_id_idx" ON "verification_summaries"("image_id");

-- CreateIndex
CREATE INDEX "verification_summaries_status_idx" ON "verification_summaries"("status");

-- Issue 6: reviewer groups, stage gates, promotion requests with reviews, waivers, webhooks.

-- CreateEnum
CREATE TYPE "RequestStatus" AS ENUM ('open', 'approved', 'signed', 'rejected', 'withdrawn');
CREATE TYPE "ReviewDecision" AS ENUM ('approve', 'reject');

-- Stages
ALTER TABLE "stages" ADD COLUMN "required_approvals" INTEGER NOT NULL DEFAULT 1,
  ADD COLUMN "waiver_group_id" UUID,
  ADD COLUMN "gates" JSONB NOT NULL DEFAULT '{}',
  ADD COLUMN "key_backend" TEXT NOT NULL DEFAULT 'software',
  ADD COLUMN "emit_bundle" BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE "stages" ADD CONSTRAINT "stages_required_approvals_check" CHECK ("required_approvals" BETWEEN 1 AND 50);
ALTER TABLE "stages" ADD CONSTRAINT "stages_key_backend_check" CHECK ("key_backend" IN ('software', 'pkcs11'));

-- Groups
CREATE TABLE "groups" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "groups_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "groups_name_key" ON "groups"("name");

CREATE TABLE "group_members" (
    "group_id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "added_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "group_members_pkey" PRIMARY KEY ("group_id","user_id")
);
CREATE INDEX "group_members_user_id_idx" ON "group_members"("user_id");

CREATE TABLE "stage_reviewer_groups" (
    "stage_id" UUID NOT NULL,
    "group_id" UUID NOT NULL,
    CONSTRAINT "stage_reviewer_groups_pkey" PRIMARY KEY ("stage_id","group_id")
);
CREATE INDEX "stage_reviewer_groups_group_id_idx" ON "stage_reviewer_groups"("group_id");

-- Requests and reviews
CREATE TABLE "promotion_requests" (
    "id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "stage_id" UUID NOT NULL,
    "requester_id" UUID,
    "note" TEXT NOT NULL,
    "status" "RequestStatus" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decided_at" TIMESTAMPTZ(3),
    "gate_results" JSONB,
    "break_glass" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "promotion_requests_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "promotion_requests_image_id_stage_id_idx" ON "promotion_requests"("image_id", "stage_id");
CREATE INDEX "promotion_requests_status_idx" ON "promotion_requests"("status");
CREATE INDEX "promotion_requests_requester_id_idx" ON "promotion_requests"("requester_id");

CREATE TABLE "reviews" (
    "id" UUID NOT NULL,
    "request_id" UUID NOT NULL,
    "reviewer_id" UUID NOT NULL,
    "decision" "ReviewDecision" NOT NULL,
    "comment" TEXT NOT NULL,
    "break_glass" BOOLEAN NOT NULL DEFAULT false,
    "waiver_ids" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "gate_results" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "reviews_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "reviews_request_id_reviewer_id_key" ON "reviews"("request_id", "reviewer_id");
CREATE INDEX "reviews_reviewer_id_idx" ON "reviews"("reviewer_id");

-- Waivers
CREATE TABLE "waivers" (
    "id" UUID NOT NULL,
    "stage_id" UUID NOT NULL,
    "gate" TEXT NOT NULL,
    "vuln_ids" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "repository_id" UUID NOT NULL,
    "digest" TEXT,
    "reason" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "granted_by_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "waivers_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "waivers_stage_id_repository_id_idx" ON "waivers"("stage_id", "repository_id");

-- Webhooks with an outbox
CREATE TABLE "webhooks" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "events" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "secret" BYTEA NOT NULL,
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhooks_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "webhooks_name_key" ON "webhooks"("name");

CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL,
    "webhook_id" UUID NOT NULL,
    "event" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "delivered_at" TIMESTAMPTZ(3),
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "webhook_deliveries_status_next_attempt_at_idx" ON "webhook_deliveries"("status", "next_attempt_at");

-- Approvals (stage signatures) conclude a request
ALTER TABLE "approvals" ADD COLUMN "request_id" UUID;
CREATE UNIQUE INDEX "approvals_request_id_key" ON "approvals"("request_id");

-- Foreign keys
ALTER TABLE "stages" ADD CONSTRAINT "stages_waiver_group_id_fkey" FOREIGN KEY ("waiver_group_id") REFERENCES "groups"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "group_members" ADD CONSTRAINT "group_members_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "group_members" ADD CONSTRAINT "group_members_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "stage_reviewer_groups" ADD CONSTRAINT "stage_reviewer_groups_stage_id_fkey" FOREIGN KEY ("stage_id") REFERENCES "stages"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "stage_reviewer_groups" ADD CONSTRAINT "stage_reviewer_groups_group_id_fkey" FOREIGN KEY ("group_id") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "promotion_requests" ADD CONSTRAINT "promotion_requests_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "images"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "promotion_requests" ADD CONSTRAINT "promotion_requests_stage_id_fkey" FOREIGN KEY ("stage_id") REFERENCES "stages"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "promotion_requests" ADD CONSTRAINT "promotion_requests_requester_id_fkey" FOREIGN KEY ("requester_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "promotion_requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_reviewer_id_fkey" FOREIGN KEY ("reviewer_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "waivers" ADD CONSTRAINT "waivers_stage_id_fkey" FOREIGN KEY ("stage_id") REFERENCES "stages"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "waivers" ADD CONSTRAINT "waivers_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repositories"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "waivers" ADD CONSTRAINT "waivers_granted_by_id_fkey" FOREIGN KEY ("granted_by_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_fkey" FOREIGN KEY ("webhook_id") REFERENCES "webhooks"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "promotion_requests"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- The walking skeleton's direct approvals become requests with one approval (no requester was recorded then).
INSERT INTO "promotion_requests" ("id", "image_id", "stage_id", "requester_id", "note", "status", "created_at", "updated_at", "decided_at", "gate_results")
SELECT a."id", a."image_id", a."stage_id", NULL, 'migrated: direct approval made before promotion requests existed',
       CASE a."status" WHEN 'signed' THEN 'signed'::"RequestStatus" ELSE 'approved'::"RequestStatus" END,
       a."created_at", a."created_at", a."created_at", '[]'::jsonb
FROM "approvals" a;
INSERT INTO "reviews" ("id", "request_id", "reviewer_id", "decision", "comment", "gate_results", "created_at")
SELECT gen_random_uuid(), a."id", a."approver_id", 'approve', a."comment", '[]'::jsonb, a."created_at" FROM "approvals" a;
UPDATE "approvals" SET "request_id" = "id";

-- AlterTable
ALTER TABLE "registries" ADD COLUMN     "allow_link_local" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "ca_bundle" TEXT,
ADD COLUMN     "enabled" BOOLEAN NOT NULL DEFAULT true,
ADD COLUMN     "last_test_at" TIMESTAMPTZ(3),
ADD COLUMN     "last_test_result" JSONB,
ADD COLUMN     "pending_realm" TEXT,
ADD COLUMN     "push_credentials" BYTEA,
ADD COLUMN     "read_credentials" BYTEA,
ADD COLUMN     "repository_list" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "sync_interval_min" INTEGER,
ADD COLUMN     "token_realm" TEXT,
ADD COLUMN     "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
ADD COLUMN     "webhook_token_hash" TEXT;

-- AlterTable
ALTER TABLE "repositories" ADD COLUMN     "last_error" TEXT,
ADD COLUMN     "last_synced_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "images" ADD COLUMN     "config_created" TIMESTAMPTZ(3),
ADD COLUMN     "deleted_at" TIMESTAMPTZ(3),
ADD COLUMN     "history" JSONB,
ADD COLUMN     "labels" JSONB;

-- AlterTable
ALTER TABLE "tags" ADD COLUMN     "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

-- CreateTable
CREATE TABLE "artifacts" (
    "id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "digest" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "artifact_type" TEXT,
    "kind" TEXT NOT NULL,
    "predicate_type" TEXT,
    "source" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "annotations" JSONB NOT NULL,
    "discovered_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "artifacts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "tag_events" (
    "id" UUID NOT NULL,
    "repository_id" UUID NOT NULL,
    "tag" TEXT NOT NULL,
    "from_digest" TEXT,
    "to_digest" TEXT,
    "seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "tag_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sync_runs" (
    "id" UUID NOT NULL,
    "registry_id" UUID NOT NULL,
    "status" TEXT NOT NULL,
    "trigger" TEXT NOT NULL,
    "scope" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "repos_total" INTEGER NOT NULL DEFAULT 0,
    "repos_done" INTEGER NOT NULL DEFAULT 0,
    "errors" JSONB NOT NULL DEFAULT '[]',
    "stats" JSONB,
    "requested_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "sync_runs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "images_digest_prefix_idx" ON "images"("digest" text_pattern_ops);

-- CreateIndex
CREATE UNIQUE INDEX "artifacts_image_id_digest_key" ON "artifacts"("image_id", "digest");

-- CreateIndex
CREATE INDEX "tag_events_repository_id_tag_seen_at_idx" ON "tag_events"("repository_id", "tag", "seen_at");

-- CreateIndex
CREATE INDEX "tag_events_from_digest_idx" ON "tag_events"("from_digest");

-- CreateIndex
CREATE INDEX "sync_runs_registry_id_created_at_idx" ON "sync_runs"("registry_id", "created_at");

-- AddForeignKey
ALTER TABLE "artifacts" ADD CONSTRAINT "artifacts_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "images"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "tag_events" ADD CONSTRAINT "tag_events_repository_id_fkey" FOREIGN KEY ("repository_id") REFERENCES "repositories"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_registry_id_fkey" FOREIGN KEY ("registry_id") REFERENCES "registries"("id") ON DELETE CASCADE ON UPDATE CASCADE;

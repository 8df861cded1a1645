-- Issue 5: trust configured as data (trust identities of four kinds, each with a role and a repository scope),
-- every signature format with its ordered checks, and stage keys with a backend, import and rotation.

-- CreateTable
CREATE TABLE "trust_identities" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "scope" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "public_key_pem" TEXT,
    "fingerprint" TEXT,
    "algorithm" TEXT,
    "certificates" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "subject" TEXT,
    "san" TEXT,
    "oidc_issuer" TEXT,
    "sigstore" JSONB,
    "valid_from" TIMESTAMPTZ(3),
    "valid_until" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "trust_identities_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "trust_identities_name_key" ON "trust_identities"("name");

-- CreateIndex
CREATE INDEX "trust_identities_fingerprint_idx" ON "trust_identities"("fingerprint");

-- Every trusted outside key becomes a key identity: role publisher, every repository.
INSERT INTO "trust_identities" ("id", "name", "kind", "role", "scope", "public_key_pem", "fingerprint", "created_by", "created_at", "updated_at")
SELECT "id", "name", 'key', 'publisher', ARRAY['**']::TEXT[], "public_key_pem", "fingerprint", 'migration 20261125170000_trust_identities', "created_at", CURRENT_TIMESTAMP
FROM "trusted_keys";

-- DropTable
DROP TABLE "trusted_keys";

-- CreateTable: one row, bumped in the same transaction as any change to trust identities or stage keys, so a
-- sync knows which stored verdicts are stale (a deleted identity leaves no row to compare timestamps with).
CREATE TABLE "trust_state" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "changed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "trust_state_pkey" PRIMARY KEY ("id")
);
INSERT INTO "trust_state" ("id", "changed_at") VALUES (1, CURRENT_TIMESTAMP);

-- AlterTable
ALTER TABLE "signatures" ADD COLUMN "format" TEXT NOT NULL DEFAULT 'cosign',
ADD COLUMN "checks" JSONB NOT NULL DEFAULT '[]',
ADD COLUMN "signer" JSONB,
ADD COLUMN "time_kind" TEXT,
ADD COLUMN "time_at" TIMESTAMPTZ(3),
ADD COLUMN "time_by" TEXT,
ADD COLUMN "trusted_by" TEXT,
ADD COLUMN "role" TEXT,
ADD COLUMN "artifact_digest" TEXT;

-- AlterTable
ALTER TABLE "signing_keys" ADD COLUMN "backend" TEXT NOT NULL DEFAULT 'software',
ADD COLUMN "pkcs11_token_label" TEXT,
ADD COLUMN "pkcs11_key_id" TEXT,
ADD COLUMN "imported" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN "retired_at" TIMESTAMPTZ(3),
ALTER COLUMN "encrypted_private_key" DROP NOT NULL;

-- CreateTable
CREATE TABLE "stage_bundles" (
    "id" UUID NOT NULL,
    "approval_id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "signing_key_id" UUID NOT NULL,
    "artifact_digest" TEXT NOT NULL,
    "bundle_digest" TEXT NOT NULL,
    "media_type" TEXT NOT NULL,
    "pushed_via" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stage_bundles_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "stage_bundles_approval_id_key" ON "stage_bundles"("approval_id");

-- CreateIndex
CREATE INDEX "stage_bundles_image_id_idx" ON "stage_bundles"("image_id");

-- CreateTable: the last verification pass over an image's signatures, with what the cap left untried.
CREATE TABLE "signature_runs" (
    "image_id" UUID NOT NULL,
    "found" INTEGER NOT NULL,
    "tried" INTEGER NOT NULL,
    "not_tried" INTEGER NOT NULL,
    "cap" INTEGER NOT NULL,
    "detail" TEXT,
    "checked_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "signature_runs_pkey" PRIMARY KEY ("image_id")
);

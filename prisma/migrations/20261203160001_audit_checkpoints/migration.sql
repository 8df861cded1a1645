-- Signed checkpoints of the audit chain, pushed to the registry (see lib/server/audit/make-audit-checkpoint.ts).
CREATE TABLE "audit_keys" (
    "id" UUID NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "public_key_pem" TEXT NOT NULL,
    "encrypted_private_key" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_keys_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "audit_keys_fingerprint_key" ON "audit_keys"("fingerprint");

CREATE TABLE "audit_checkpoints" (
    "number" INTEGER NOT NULL,
    "head_seq" BIGINT NOT NULL,
    "head_hash" TEXT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "key_fingerprint" TEXT NOT NULL,
    "payload" TEXT NOT NULL,
    "signature" TEXT NOT NULL,
    "reference" TEXT,
    "pushed_at" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    CONSTRAINT "audit_checkpoints_pkey" PRIMARY KEY ("number")
);
CREATE INDEX "audit_checkpoints_pushed_at_idx" ON "audit_checkpoints"("pushed_at");

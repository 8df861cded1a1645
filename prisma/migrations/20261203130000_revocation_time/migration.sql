-- Approvals can be revoked (who, when, why; registry removal retried while pending) and carry an RFC 3161 timestamp
-- token over their signature. Stages may let approvals expire. A stage key's revocation (compromise) records why.
ALTER TABLE "approvals" ADD COLUMN "revoked_at" TIMESTAMPTZ(3),
  ADD COLUMN "revoked_by" TEXT,
  ADD COLUMN "revoked_by_id" UUID,
  ADD COLUMN "revocation_reason" TEXT,
  ADD COLUMN "revocation_source" TEXT,
  ADD COLUMN "revocation_state" TEXT,
  ADD COLUMN "revocation_error" TEXT,
  ADD COLUMN "timestamp_token" BYTEA,
  ADD COLUMN "timestamp_at" TIMESTAMPTZ(3),
  ADD COLUMN "timestamp_by" TEXT;
ALTER TABLE "stages" ADD COLUMN "approval_ttl_days" INTEGER;
ALTER TABLE "signing_keys" ADD COLUMN "revocation_reason" TEXT;

-- RFC 3161 timestamps on audit checkpoints (IMPRIMATUR_TSA_URL): the TSA's TimeStampResp over the checkpoint's
-- signature, its genTime and TSA, or why none was obtained. Bookkeeping only: verification reads the copy pushed to
-- the registry (the manifest annotation dev.imprimatur.audit.timestamp).
ALTER TABLE "audit_checkpoints" ADD COLUMN "timestamp_token" BYTEA;
ALTER TABLE "audit_checkpoints" ADD COLUMN "timestamp_at" TIMESTAMPTZ(3);
ALTER TABLE "audit_checkpoints" ADD COLUMN "timestamp_by" TEXT;
ALTER TABLE "audit_checkpoints" ADD COLUMN "timestamp_error" TEXT;

-- Sigstore trust material carries its own verification thresholds (transparency log entries, trusted timestamps,
-- CT SCTs) for the repositories in its scope; null keeps the defaults that follow the bundle.
ALTER TABLE "trust_identities" ADD COLUMN "sigstore_thresholds" JSONB;

-- Trust identities that match every certificate under their root must say so explicitly. Existing ones keep their
-- behaviour (they are marked, and the /keys page warns about them); new ones are refused unless marked.
ALTER TABLE "trust_identities" ADD COLUMN "any_identity_under_root" BOOLEAN NOT NULL DEFAULT false;
UPDATE "trust_identities" SET "any_identity_under_root" = true
WHERE "kind" IN ('certificate', 'sigstore')
  AND "subject" IS NULL
  AND NOT ("san" IS NOT NULL AND ("kind" = 'certificate' OR "oidc_issuer" IS NOT NULL));

-- Sign-in throttling per account and per source address (state shared by every replica).
CREATE TABLE "signin_throttle" (
    "key" TEXT NOT NULL,
    "window_start" TIMESTAMPTZ(3) NOT NULL,
    "attempts" INTEGER NOT NULL,
    CONSTRAINT "signin_throttle_pkey" PRIMARY KEY ("key")
);

-- Failed authentications counted per source per minute (instead of one audit row each).
CREATE TABLE "auth_failure_counts" (
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "source" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "auth_failure_counts_pkey" PRIMARY KEY ("minute", "source", "kind")
);

-- The last verified point of the audit hash chain.
CREATE TABLE "audit_chain_checkpoint" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "rows" BIGINT NOT NULL,
    "verified_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_chain_checkpoint_pkey" PRIMARY KEY ("id")
);

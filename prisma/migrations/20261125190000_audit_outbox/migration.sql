-- High-volume audit events (admission decisions, denied requests) are staged here with one plain INSERT and folded
-- into the hash chain in batches, so they never queue on the chain's lock (which serializes every chained append).
CREATE TABLE "audit_outbox" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor_type" TEXT NOT NULL,
    "actor_id" TEXT,
    "actor_label" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "target_digest" TEXT,
    "target" TEXT,
    "detail" JSONB NOT NULL,
    CONSTRAINT "audit_outbox_pkey" PRIMARY KEY ("id")
);

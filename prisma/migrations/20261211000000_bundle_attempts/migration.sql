-- Pending Sigstore bundles are retried fewest failed attempts first (as pending signatures and verification summaries
-- are): ordered by creation alone, twenty approvals whose registry keeps failing took every slot of every tick, and no
-- newer bundle was ever pushed.

-- AlterTable
ALTER TABLE "approvals" ADD COLUMN "bundle_attempts" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "namespace_policies" (
    "id" UUID NOT NULL,
    "namespace" TEXT NOT NULL,
    "stage_id" UUID,
    "exempt" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "namespace_policies_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "namespace_policies_namespace_key" ON "namespace_policies"("namespace");

-- AddForeignKey
ALTER TABLE "namespace_policies" ADD CONSTRAINT "namespace_policies_stage_id_fkey" FOREIGN KEY ("stage_id") REFERENCES "stages"("id") ON DELETE SET NULL ON UPDATE CASCADE;

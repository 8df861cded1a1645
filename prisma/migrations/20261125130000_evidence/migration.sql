-- CreateTable
CREATE TABLE "evidence_documents" (
    "id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "content_digest" TEXT NOT NULL,
    "format" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "predicate_type" TEXT,
    "source" TEXT NOT NULL,
    "artifact_digest" TEXT,
    "uploaded_by" TEXT NOT NULL,
    "uploader_id" UUID,
    "uploaded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "scanned_at" TIMESTAMPTZ(3),
    "tool_name" TEXT,
    "tool_version" TEXT,
    "subject_digest" TEXT,
    "signature_status" TEXT NOT NULL,
    "signed_by" TEXT,
    "signature_detail" TEXT,
    "size" INTEGER NOT NULL,
    "raw" BYTEA NOT NULL,
    "component_count" INTEGER NOT NULL DEFAULT 0,
    "finding_count" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "evidence_documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "components" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "name_key" TEXT NOT NULL,
    "version" TEXT,
    "purl" TEXT,
    "purl_key" TEXT,
    "type" TEXT,
    "ecosystem" TEXT,
    "licenses" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "layer" TEXT,

    CONSTRAINT "components_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "findings" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "vuln_id" TEXT NOT NULL,
    "aliases" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "severity" TEXT NOT NULL,
    "cvss_score" DOUBLE PRECISION,
    "cvss_vector" TEXT,
    "package" TEXT NOT NULL,
    "purl" TEXT,
    "installed_version" TEXT,
    "fixed_version" TEXT,
    "fix_available" BOOLEAN NOT NULL,
    "status" TEXT NOT NULL,
    "status_detail" TEXT,
    "source" TEXT NOT NULL,
    "title" TEXT,

    CONSTRAINT "findings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "provenance" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "image_id" UUID NOT NULL,
    "predicate_type" TEXT NOT NULL,
    "builder_id" TEXT,
    "build_type" TEXT,
    "source_repo" TEXT,
    "source_commit" TEXT,
    "entry_point" TEXT,
    "materials" JSONB NOT NULL,
    "started_on" TIMESTAMPTZ(3),
    "finished_on" TIMESTAMPTZ(3),

    CONSTRAINT "provenance_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "evidence_documents_image_id_content_digest_key" ON "evidence_documents"("image_id", "content_digest");

-- CreateIndex
CREATE INDEX "components_name_key_idx" ON "components"("name_key");

-- CreateIndex
CREATE INDEX "components_purl_key_idx" ON "components"("purl_key");

-- CreateIndex
CREATE INDEX "components_image_id_idx" ON "components"("image_id");

-- CreateIndex
CREATE INDEX "components_document_id_idx" ON "components"("document_id");

-- CreateIndex
CREATE INDEX "findings_image_id_idx" ON "findings"("image_id");

-- CreateIndex
CREATE INDEX "findings_vuln_id_idx" ON "findings"("vuln_id");

-- CreateIndex
CREATE INDEX "findings_document_id_idx" ON "findings"("document_id");

-- CreateIndex
CREATE UNIQUE INDEX "provenance_document_id_key" ON "provenance"("document_id");

-- CreateIndex
CREATE INDEX "provenance_image_id_idx" ON "provenance"("image_id");

-- AddForeignKey
ALTER TABLE "evidence_documents" ADD CONSTRAINT "evidence_documents_image_id_fkey" FOREIGN KEY ("image_id") REFERENCES "images"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "components" ADD CONSTRAINT "components_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "evidence_documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "findings" ADD CONSTRAINT "findings_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "evidence_documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "provenance" ADD CONSTRAINT "provenance_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "evidence_documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

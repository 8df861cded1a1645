-- Issue 17: streaming SBOM ingest. A large document's bytes are stored as they arrive, in ~1 MiB rows, instead of
-- one bytea parameter; evidence_documents.raw stays for documents ingested whole (raw_chunks = 0).
ALTER TABLE "evidence_documents" ADD COLUMN "raw_chunks" INTEGER NOT NULL DEFAULT 0;

CREATE TABLE "evidence_document_chunks" (
    "document_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "bytes" BYTEA NOT NULL,

    CONSTRAINT "evidence_document_chunks_pkey" PRIMARY KEY ("document_id","seq")
);

ALTER TABLE "evidence_document_chunks" ADD CONSTRAINT "evidence_document_chunks_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "evidence_documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

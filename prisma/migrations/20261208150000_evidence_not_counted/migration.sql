-- Why a stored evidence document does not count in gates and advisory matching (null: it counts). Set for registry
-- evidence that no trusted key signed, on a repository covered by evidence-uploader rules (review 14, finding 4).
ALTER TABLE "evidence_documents" ADD COLUMN "not_counted" TEXT;

-- A Sigstore bundle counts as a signature only with cosign's sign predicate (https://sigstore.dev/cosign/sign/v1);
-- attestation bundles (provenance, SBOM, verification summaries) verified as signatures before this release must
-- leave the chain. Marking trust as changed makes the next sync re-verify every stored verdict, which drops them.
INSERT INTO "trust_state" ("id", "changed_at") VALUES (1, CURRENT_TIMESTAMP)
ON CONFLICT ("id") DO UPDATE SET "changed_at" = CURRENT_TIMESTAMP;

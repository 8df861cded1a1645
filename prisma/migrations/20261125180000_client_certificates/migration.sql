-- Client certificates forwarded by trusted proxies authenticate as users (verify API, ImageReview).
CREATE TABLE "client_certificates" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),
    CONSTRAINT "client_certificates_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "client_certificates_fingerprint_key" ON "client_certificates"("fingerprint");
CREATE INDEX "client_certificates_user_id_idx" ON "client_certificates"("user_id");
ALTER TABLE "client_certificates" ADD CONSTRAINT "client_certificates_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

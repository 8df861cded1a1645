-- Reports (lib/server/reports/get-report.ts) select requests, reviews and approvals by time.
CREATE INDEX "promotion_requests_created_at_idx" ON "promotion_requests"("created_at");
CREATE INDEX "promotion_requests_decided_at_idx" ON "promotion_requests"("decided_at");
CREATE INDEX "reviews_created_at_idx" ON "reviews"("created_at");
CREATE INDEX "approvals_created_at_idx" ON "approvals"("created_at");

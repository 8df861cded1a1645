-- Filtered pages of the audit trail, newest first, stay index scans on a large table:
--  * actor_label, action and target each lead an index with seq second, so "WHERE x = ? ORDER BY seq DESC LIMIT n"
--    reads n index entries. action and target use COLLATE "C": a family filter ("review") is then the byte range
--    ['review.', 'review/') and a registry filter the range ['reg/', 'reg0'), which a C-collated btree answers.
--  * stage and request filters read detail->>'stage' / detail->>'requestId' through expression indexes. Prisma's
--    schema language cannot express them; the drift test compares column indexes only.
CREATE INDEX "audit_events_actor_label_seq_idx" ON "audit_events"("actor_label", "seq");
CREATE INDEX "audit_events_action_seq_idx" ON "audit_events"("action" COLLATE "C", "seq");
CREATE INDEX "audit_events_target_seq_idx" ON "audit_events"("target" COLLATE "C", "seq");
CREATE INDEX "audit_events_detail_stage_idx" ON "audit_events"(("detail"->>'stage'));
CREATE INDEX "audit_events_detail_request_idx" ON "audit_events"(("detail"->>'requestId'));

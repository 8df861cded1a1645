-- Admission judges a platform manifest by any index of its repository whose platform list names it, not only the
-- first one it was synced under (images.parent_digest): this index finds those indexes by containment
-- (platforms @> '[{"digest": "sha256:…"}]').
CREATE INDEX "images_platforms_idx" ON "images" USING GIN ("platforms" jsonb_path_ops);

-- Which builder ids a builder identity may vouch for (glob patterns as the provenance gate's builderIds, matchScope).
-- A signed provenance statement names its own builder id: without this binding any trusted builder key could claim
-- another builder's id (a team's CI key naming the release builder). The provenance gate now counts a signed
-- statement's builder id only when its signing identity's builder_ids match it.
ALTER TABLE "trust_identities" ADD COLUMN "builder_ids" TEXT[] NOT NULL DEFAULT '{}';

-- Upgrade without breaking running pipelines: existing builder identities keep their current behaviour, made explicit
-- as '**' (any builder id). The UI and the API show them as vouching for any builder id, with a warning, until an
-- admin narrows the list. Other roles keep '{}' (the column means nothing for them and is refused on them).
UPDATE "trust_identities" SET "builder_ids" = ARRAY['**'] WHERE "role" = 'builder';

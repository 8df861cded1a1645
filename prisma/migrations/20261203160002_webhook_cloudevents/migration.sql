-- Webhooks deliver CloudEvents 1.0 (structured JSON) or a Slack-compatible message, within a scope of stages and
-- repository globs.
ALTER TABLE "webhooks" ADD COLUMN "format" TEXT NOT NULL DEFAULT 'cloudevents';
ALTER TABLE "webhooks" ADD COLUMN "stages" TEXT[] DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "webhooks" ADD COLUMN "repositories" TEXT[] DEFAULT ARRAY[]::TEXT[];

// Re-exports only: each action has its own file (create-webhook.ts, list-webhooks.ts, delete-webhook.ts). This file
// stays while tests in lib/server/promotions import it (that folder was being restructured in parallel); point them
// at the new files and delete it.
export { createWebhook } from "./create-webhook";
export { listWebhooks } from "./list-webhooks";
export { deleteWebhook } from "./delete-webhook";

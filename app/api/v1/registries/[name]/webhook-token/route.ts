import { apiHandler, created } from "@/lib/server/http/api-handler";
import { rotateWebhookToken } from "@/lib/server/registries/rotate-webhook-token";

export const dynamic = "force-dynamic";

export const POST = apiHandler<{ name: string }>(async ({ actor, params }) => created(await rotateWebhookToken({ actor, name: params.name })), {
  roles: ["admin"],
  what: "managing registry notifications",
});

import { apiHandler } from "@/lib/server/http/api-handler";
import { deleteWebhook } from "@/lib/server/webhooks/delete-webhook";

export const dynamic = "force-dynamic";

export const DELETE = apiHandler<{ name: string }>(async ({ actor, params }) => deleteWebhook({ actor, name: params.name }), {
  roles: ["admin"],
  what: "managing webhooks",
});

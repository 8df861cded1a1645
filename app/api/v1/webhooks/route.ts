import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { webhookBody } from "@/lib/server/http/contract/schemas";
import { createWebhook } from "@/lib/server/webhooks/create-webhook";
import { listWebhooks } from "@/lib/server/webhooks/list-webhooks";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ webhooks: await listWebhooks({ actor }) }), { roles: ["admin"], what: "managing webhooks" });

/** POST /api/v1/webhooks: returns the signing secret (`whsec_…`) once. */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, webhookBody);
    return created(await createWebhook({ actor, ...b }));
  },
  { roles: ["admin"], what: "managing webhooks" },
);

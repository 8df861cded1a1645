import { z } from "zod";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { createWebhook, listWebhooks } from "@/lib/server/webhooks/manage-webhook";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ webhooks: await listWebhooks({ actor }) }), { roles: ["admin"], what: "managing webhooks" });

const body = z
  .object({
    name: z.string().min(1).max(64),
    url: z.string().min(1).max(2000),
    events: z.array(z.string()).max(20).default([]),
    format: z.string().max(20).optional(),
    stages: z.array(z.string().max(64)).max(50).optional(),
    repositories: z.array(z.string().max(255)).max(50).optional(),
  })
  .strict();

/** POST /api/v1/webhooks: returns the HMAC secret once. */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    return created(await createWebhook({ actor, ...b }));
  },
  { roles: ["admin"], what: "managing webhooks" },
);

import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { withdrawRequest } from "@/lib/server/promotions/withdraw-request";

export const dynamic = "force-dynamic";

const body = z.object({ reason: z.string().trim().max(2000).default("") }).strict();

/** POST /api/v1/requests/{id}/withdraw: the requester (or an admin) withdraws an open request. */
export const POST = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, body);
  return withdrawRequest({ actor, requestId: params.id, reason: b.reason });
});

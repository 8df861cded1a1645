import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { withdrawRequestBody } from "@/lib/server/http/contract/schemas";
import { withdrawRequest } from "@/lib/server/promotions/withdraw-request";

export const dynamic = "force-dynamic";

/** POST /api/v1/requests/{id}/withdraw: the requester (or an admin) withdraws an open request. */
export const POST = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, withdrawRequestBody);
  return withdrawRequest({ actor, requestId: params.id, reason: b.reason });
});

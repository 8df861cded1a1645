import { apiHandler } from "@/lib/server/http/api-handler";
import { getRequest } from "@/lib/server/promotions/get-request";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ id: string }>(async ({ actor, params }) => {
  return getRequest({ actor, requestId: params.id });
});

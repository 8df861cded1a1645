import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { revokeWaiverBody } from "@/lib/server/http/contract/schemas";
import { revokeWaiver } from "@/lib/server/waivers/revoke-waiver";

export const dynamic = "force-dynamic";

/** DELETE /api/v1/waivers/{id} with {reason}: revoke a waiver before it expires. */
export const DELETE = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, revokeWaiverBody);
  return revokeWaiver({ actor, waiverId: params.id, reason: b.reason });
});

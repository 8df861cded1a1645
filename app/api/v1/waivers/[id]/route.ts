import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { revokeWaiver } from "@/lib/server/waivers/revoke-waiver";

export const dynamic = "force-dynamic";

const body = z.object({ reason: z.string().trim().min(3).max(2000) }).strict();

/** DELETE /api/v1/waivers/{id} with {reason}: revoke a waiver before it expires. */
export const DELETE = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, body);
  return revokeWaiver({ actor, waiverId: params.id, reason: b.reason });
});

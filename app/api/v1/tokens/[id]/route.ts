import { apiHandler } from "@/lib/server/http/api-handler";
import { revokeToken } from "@/lib/server/tokens/revoke-token";

export const dynamic = "force-dynamic";

/** DELETE /api/v1/tokens/{id or prefix}: revoke (your own; admins any). */
export const DELETE = apiHandler<{ id: string }>(async ({ actor, params }) => {
  const t = await revokeToken({ actor, idOrPrefix: params.id });
  return { id: t.id, prefix: t.prefix, revokedAt: t.revokedAt };
});

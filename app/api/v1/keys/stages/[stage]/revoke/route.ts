import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { revokeKeyBody } from "@/lib/server/http/contract/schemas";
import { revokeStageKey } from "@/lib/server/keys/revoke-stage-key";

export const dynamic = "force-dynamic";

/**
 * POST /api/v1/keys/stages/{stage}/revoke {effectiveAt, reason, dryRun?, key?}: the stage key is compromised from
 * effectiveAt. A dry run lists the approvals and images that would change; otherwise they are revoked, the key's
 * effective revocation time is set (only ever moved earlier) and a replacement key is generated.
 */
export const POST = apiHandler<{ stage: string }>(
  async ({ req, actor, params }) => {
    const b = await parseBody(req, revokeKeyBody);
    return revokeStageKey({ actor, stage: params.stage, effectiveAt: new Date(b.effectiveAt), reason: b.reason, dryRun: b.dryRun, key: b.key });
  },
  { roles: ["admin"], what: "revoking stage keys" },
);

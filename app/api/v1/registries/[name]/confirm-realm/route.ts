import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { confirmRealmBody } from "@/lib/server/http/contract/schemas";
import { confirmRegistryRealm } from "@/lib/server/registries/confirm-registry-realm";

export const dynamic = "force-dynamic";

/** POST {realm?}: confirm the pending token realm; with `realm`, only if it is still the one pending (else 409). */
export const POST = apiHandler<{ name: string }>(
  async ({ req, actor, params }) => {
    const { realm } = await parseBody(req, confirmRealmBody, { optional: true });
    return confirmRegistryRealm({ actor, name: params.name, ...(realm ? { realm } : {}) });
  },
  { roles: ["admin"], what: "confirming a token realm" },
);

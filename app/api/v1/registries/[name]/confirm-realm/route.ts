import { apiHandler } from "@/lib/server/http/api-handler";
import { confirmRegistryRealm } from "@/lib/server/registries/confirm-registry-realm";

export const dynamic = "force-dynamic";

export const POST = apiHandler<{ name: string }>(async ({ actor, params }) => confirmRegistryRealm({ actor, name: params.name }), {
  roles: ["admin"],
  what: "confirming a token realm",
});

import { apiHandler } from "@/lib/server/http/api-handler";
import { testRegistryConnection } from "@/lib/server/registries/test-registry-connection";

export const dynamic = "force-dynamic";

export const POST = apiHandler<{ name: string }>(async ({ actor, params }) => testRegistryConnection({ actor, name: params.name }), {
  roles: ["admin"],
  what: "testing registry connections",
});

import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { deleteRegistry } from "@/lib/server/registries/delete-registry";
import { getRegistry } from "@/lib/server/registries/get-registry";
import { updateRegistry } from "@/lib/server/registries/update-registry";
import { listSyncRuns } from "@/lib/server/registries/list-sync-runs";
import { updateRegistryInput } from "@/lib/server/registries/registry-input";

export const dynamic = "force-dynamic";

type P = { name: string };

export const GET = apiHandler<P>(async ({ actor, params }) => {
  const registry = await getRegistry({ actor, name: params.name });
  const runs = await listSyncRuns({ actor, registryId: registry.id, take: 10 });
  return { ...registry, syncRuns: runs };
});

export const PATCH = apiHandler<P>(
  async ({ req, actor, params }) => updateRegistry({ actor, name: params.name, input: await parseBody(req, updateRegistryInput) }),
  { roles: ["admin"], what: "managing registries" },
);

export const DELETE = apiHandler<P>(async ({ actor, params }) => deleteRegistry({ actor, name: params.name }), {
  roles: ["admin"],
  what: "managing registries",
});

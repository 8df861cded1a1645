import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { createRegistry } from "@/lib/server/registries/create-registry";
import { listRegistries } from "@/lib/server/registries/list-registries";
import { createRegistryInput } from "@/lib/server/registries/registry-input";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ registries: await listRegistries({ actor }) }));

export const POST = apiHandler(async ({ req, actor }) => created(await createRegistry({ actor, input: await parseBody(req, createRegistryInput) })), {
  roles: ["admin"],
  what: "managing registries",
});

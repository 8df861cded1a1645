import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { groupBody } from "@/lib/server/http/contract/schemas";
import { listGroups } from "@/lib/server/groups/list-groups";
import { upsertGroup } from "@/lib/server/groups/upsert-group";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ groups: await listGroups({ actor }) }));

/** PUT /api/v1/groups: create a group or replace its description and members (by email). */
export const PUT = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, groupBody);
    return upsertGroup({ actor, ...b });
  },
  { roles: ["admin"], what: "managing groups" },
);

import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { listGroups, upsertGroup } from "@/lib/server/groups/manage-group";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ groups: await listGroups({ actor }) }));

const body = z
  .object({ name: z.string().min(1).max(64), description: z.string().max(500).optional(), members: z.array(z.string().email()).max(500).optional() })
  .strict();

/** PUT /api/v1/groups: create a group or replace its description and members (by email). */
export const PUT = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    return upsertGroup({ actor, ...b });
  },
  { roles: ["admin"], what: "managing groups" },
);

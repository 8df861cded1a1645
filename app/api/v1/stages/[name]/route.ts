import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { stageBody } from "@/lib/server/http/contract/schemas";
import { getStage } from "@/lib/server/stages/get-stage";
import { upsertStage } from "@/lib/server/stages/upsert-stage";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ name: string }>(async ({ params }) => getStage({ name: params.name }));

/** PUT /api/v1/stages/{name}: create the stage (appended, with a new key) or update its settings. */
export const PUT = apiHandler<{ name: string }>(
  async ({ req, actor, params }) => {
    const b = await parseBody(req, stageBody);
    return upsertStage({ actor, name: params.name, settings: b });
  },
  { roles: ["admin"], what: "configuring stages" },
);

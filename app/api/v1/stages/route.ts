import { apiHandler } from "@/lib/server/http/api-handler";
import { listStages } from "@/lib/server/stages/list-stages";

export const dynamic = "force-dynamic";

/** GET /api/v1/stages: the ordered stages with reviewer groups, N approvals, waiver group, gates and current key. */
export const GET = apiHandler(async ({ actor }) => ({ stages: await listStages({ actor }) }));

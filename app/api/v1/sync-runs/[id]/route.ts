import { apiHandler } from "@/lib/server/http/api-handler";
import { getSyncRun } from "@/lib/server/registries/get-sync-run";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ id: string }>(async ({ actor, params }) => getSyncRun({ actor, id: params.id }));

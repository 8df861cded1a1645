import { apiHandler } from "@/lib/server/http/api-handler";
import { getBulkRevocation } from "@/lib/server/revocations/get-bulk-revocation";

export const dynamic = "force-dynamic";

/** GET /api/v1/revocations/{id}: status and progress (done, failed, each approval's outcome). */
export const GET = apiHandler<{ id: string }>(async ({ actor, params }) => getBulkRevocation({ actor, id: params.id }));

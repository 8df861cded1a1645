import { apiHandler } from "@/lib/server/http/api-handler";
import { confirmBulkRevocation } from "@/lib/server/revocations/confirm-bulk-revocation";
import { enqueueBulkRevocation } from "@/lib/server/revocations/enqueue-bulk-revocation";

export const dynamic = "force-dynamic";

/** POST /api/v1/revocations/{id}/confirm: the second person's confirmation (BULK_REVOCATION_TWO_PERSON=1). */
export const POST = apiHandler<{ id: string }>(async ({ actor, params }) => confirmBulkRevocation({ actor, id: params.id, enqueue: enqueueBulkRevocation }), {
  roles: ["admin", "reviewer"],
  what: "confirming a bulk revocation",
});

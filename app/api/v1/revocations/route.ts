import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { bulkRevocationBody } from "@/lib/server/http/contract/schemas";
import { startBulkRevocation } from "@/lib/server/revocations/start-bulk-revocation";
import { enqueueBulkRevocation } from "@/lib/server/revocations/enqueue-bulk-revocation";

export const dynamic = "force-dynamic";

/**
 * POST /api/v1/revocations {query, stages, reason, dryRun = true, images?}: a bulk revocation from a fleet search.
 * dryRun lists every image, stage and approval that would change; dryRun: false records it and queues the job
 * (or waits for a second person's confirmation when BULK_REVOCATION_TWO_PERSON=1).
 */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, bulkRevocationBody);
    const r = await startBulkRevocation({
      actor,
      query: b.query,
      stages: b.stages,
      reason: b.reason ?? "",
      dryRun: b.dryRun,
      ...(b.images ? { images: b.images } : {}),
      ...(b.expectApprovals ? { expectApprovals: b.expectApprovals } : {}),
      enqueue: enqueueBulkRevocation,
    });
    return r.dryRun ? r : created(r);
  },
  { roles: ["admin", "reviewer"], what: "bulk revocation" },
);

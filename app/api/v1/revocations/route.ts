import { z } from "zod";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { startBulkRevocation } from "@/lib/server/revocations/start-bulk-revocation";
import { enqueueBulkRevocation } from "@/lib/server/revocations/enqueue-bulk-revocation";

export const dynamic = "force-dynamic";

const body = z
  .object({
    query: z.string().trim().min(1, "a fleet search query is required, e.g. lodash < 4.17.21").max(500),
    stages: z.array(z.string().min(1).max(64)).min(1, "choose at least one stage").max(50),
    reason: z.string().max(1000).optional(),
    dryRun: z.boolean().default(true),
    images: z.array(z.object({ registry: z.string().min(1).max(100), repository: z.string().min(1).max(255), digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256:<64 hex>") }).strict()).max(100_000).optional(),
  })
  .strict();

/**
 * POST /api/v1/revocations {query, stages, reason, dryRun = true, images?}: a bulk revocation from a fleet search.
 * dryRun lists every image, stage and approval that would change; dryRun: false records it and queues the job
 * (or waits for a second person's confirmation when BULK_REVOCATION_TWO_PERSON=1).
 */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    const r = await startBulkRevocation({ actor, query: b.query, stages: b.stages, reason: b.reason ?? "", dryRun: b.dryRun, ...(b.images ? { images: b.images } : {}), enqueue: enqueueBulkRevocation });
    return r.dryRun ? r : created(r);
  },
  { roles: ["admin", "reviewer"], what: "bulk revocation" },
);

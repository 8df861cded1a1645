import { z } from "zod";
import { isDigest, type Digest } from "@/lib/oci/digest";
import { isRepositoryName } from "@/lib/oci/reference";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { listRequests } from "@/lib/server/promotions/list-requests";
import { requestPromotion } from "@/lib/server/promotions/request-promotion";
import { AppError } from "@/lib/errors";

export const dynamic = "force-dynamic";

const query = z.object({
  view: z.enum(["inbox", "mine", "all"]).default("all"),
  status: z.enum(["open", "approved", "signed", "rejected", "withdrawn"]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(200),
});

/** GET /api/v1/requests?view=inbox|mine|all&status=… */
export const GET = apiHandler(async ({ req, actor }) => {
  const r = query.safeParse(Object.fromEntries(req.nextUrl.searchParams));
  if (!r.success) throw new AppError("INVALID_INPUT", r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return { requests: await listRequests({ actor, ...r.data }) };
});

const body = z
  .object({
    registry: z.string().min(1).max(100).optional(),
    repository: z.string().refine(isRepositoryName, "not a valid repository name"),
    digest: z.string().refine(isDigest, "must be sha256:<64 lowercase hex>"),
    stage: z.string().min(1).max(64),
    note: z.string().trim().max(2000).default(""),
  })
  .strict();

/** POST /api/v1/requests: request promotion of a digest to a stage. 201 when opened, 200 with the open one otherwise. */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    const r = await requestPromotion({ actor, registry: b.registry, repository: b.repository, digest: b.digest as Digest, stage: b.stage, note: b.note });
    return r.created ? created(r) : r;
  },
  { roles: ["developer", "reviewer", "admin"], what: "requesting a promotion" },
);

import type { Digest } from "@/lib/oci/digest";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { parseQuery } from "@/lib/server/http/parse-query";
import { listRequestsQuery, requestPromotionBody } from "@/lib/server/http/contract/schemas";
import { listRequests } from "@/lib/server/promotions/list-requests";
import { requestPromotion } from "@/lib/server/promotions/request-promotion";

export const dynamic = "force-dynamic";

/** GET /api/v1/requests?view=inbox|mine|all&status=… */
export const GET = apiHandler(async ({ req, actor }) => {
  return { requests: await listRequests({ actor, ...parseQuery(req.nextUrl.searchParams, listRequestsQuery) }) };
});

/** POST /api/v1/requests: request promotion of a digest to a stage. 201 when opened, 200 with the open one otherwise. */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, requestPromotionBody);
    const r = await requestPromotion({ actor, registry: b.registry, repository: b.repository, digest: b.digest as Digest, stage: b.stage, note: b.note });
    return r.created ? created(r) : r;
  },
  { roles: ["developer", "reviewer", "admin"], what: "requesting a promotion" },
);

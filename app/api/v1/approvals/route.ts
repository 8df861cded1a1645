import { z } from "zod";
import { isDigest, type Digest } from "@/lib/oci/digest";
import { isRepositoryName } from "@/lib/oci/reference";
import { approveStage } from "@/lib/server/approvals/approve-stage";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

const body = z.object({
  registry: z.string().min(1).max(100).optional(),
  repository: z.string().refine(isRepositoryName, "not a valid repository name"),
  digest: z.string().refine(isDigest, "must be sha256:<64 lowercase hex>"),
  stage: z.string().min(1).max(64),
  comment: z.string().trim().min(1, "a comment is required").max(2000),
}).strict();

export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    return created(await approveStage({ actor, registry: b.registry, repository: b.repository, digest: b.digest as Digest, stage: b.stage, comment: b.comment }));
  },
  { roles: ["reviewer", "admin"], what: "approving a stage" },
);

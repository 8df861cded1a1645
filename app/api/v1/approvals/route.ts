import type { Digest } from "@/lib/oci/digest";
import { approveStage } from "@/lib/server/approvals/approve-stage";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { approvalBody } from "@/lib/server/http/contract/schemas";

export const dynamic = "force-dynamic";

export const POST = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, approvalBody);
    return created(
      await approveStage({ actor, registry: b.registry, repository: b.repository, digest: b.digest as Digest, stage: b.stage, comment: b.comment }),
    );
  },
  { roles: ["reviewer", "admin"], what: "approving a stage" },
);

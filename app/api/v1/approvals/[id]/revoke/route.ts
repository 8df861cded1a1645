import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { revokeApprovalBody } from "@/lib/server/http/contract/schemas";
import { revokeApproval } from "@/lib/server/approvals/revoke-approval";

export const dynamic = "force-dynamic";

/**
 * POST /api/v1/approvals/{id}/revoke {reason}: a reviewer of the stage's groups (or an admin) takes the approval back.
 * Revoking a revoked approval answers with the existing revocation. `state: "pending"` means the registry still has
 * to lose the layer (retried); verify and ImageReview deny already.
 */
export const POST = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, revokeApprovalBody);
  return revokeApproval({ approvalId: params.id, actor, reason: b.reason });
});

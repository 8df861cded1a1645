import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { withdrawEvidenceBody } from "@/lib/server/http/contract/schemas";
import { withdrawEvidence } from "@/lib/server/evidence/withdraw-evidence";

export const dynamic = "force-dynamic";

/** POST /api/v1/evidence/{id}/withdraw with {reason}: an admin withdraws an evidence document (kept, shown withdrawn, no longer counted). */
export const POST = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, withdrawEvidenceBody);
  return withdrawEvidence({ actor, documentId: params.id, reason: b.reason });
});

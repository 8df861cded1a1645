import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { withdrawEvidence } from "@/lib/server/evidence/withdraw-evidence";

export const dynamic = "force-dynamic";

const body = z.object({ reason: z.string().trim().min(5, "withdrawing evidence needs a reason").max(2000) }).strict();

/** POST /api/v1/evidence/{id}/withdraw with {reason}: an admin withdraws an evidence document (kept, shown withdrawn, no longer counted). */
export const POST = apiHandler<{ id: string }>(async ({ req, actor, params }) => {
  const b = await parseBody(req, body);
  return withdrawEvidence({ actor, documentId: params.id, reason: b.reason });
});

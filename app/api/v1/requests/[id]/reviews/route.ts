import { after } from "next/server";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { reviewBody } from "@/lib/server/http/contract/schemas";
import { getRequest } from "@/lib/server/promotions/get-request";
import { reviewRequest } from "@/lib/server/promotions/review-request";

export const dynamic = "force-dynamic";

/**
 * Next's after() where the request has one; otherwise (a handler called outside Next's server, as the test harness
 * calls it) the task runs here, before the answer, as it did before after() was used.
 */
function afterAnswer(task: () => Promise<void>): void | Promise<void> {
  try {
    after(task);
  } catch {
    return task();
  }
}

/**
 * POST /api/v1/requests/{id}/reviews: approve or reject (a reason is required to reject). Submitting the same
 * decision twice counts once (200 with duplicate: true).
 */
export const POST = apiHandler<{ id: string }>(
  async ({ req, actor, params }) => {
    const b = await parseBody(req, reviewBody);
    // The answer waits for the stage signature (pushed, read back, verified); its bundle and verification summary follow
    // the answer (after()), and the scheduler tick pushes whatever a stopped replica left (finishStageSignature).
    const outcome = await reviewRequest({
      actor,
      requestId: params.id,
      decision: b.decision,
      comment: b.comment,
      breakGlass: b.breakGlass,
      ...(b.expectOverrides ? { expectOverrides: b.expectOverrides } : {}),
      ...(b.expectFailingIds ? { expectFailingIds: b.expectFailingIds } : {}),
      later: afterAnswer,
    });
    const out = { ...outcome, request: await getRequest({ actor, requestId: params.id }) };
    return outcome.duplicate ? out : created(out);
  },
  { roles: ["reviewer", "admin"], what: "reviewing a promotion request" },
);

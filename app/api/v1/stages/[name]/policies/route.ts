import { AppError } from "@/lib/errors";
import { apiHandler } from "@/lib/server/http/api-handler";
import { stagePolicyQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";
import { exportStagePolicy } from "@/lib/server/stages/export-stage-policy";

export const dynamic = "force-dynamic";

/**
 * GET /api/v1/stages/{name}/policies?format=kyverno|kyverno-clusterpolicy|policy-controller|cosign
 *   [&images=glob[,glob…]] [&requireVerificationSummary=true]
 * The stage's admission policy as a file download (YAML, or a shell script for cosign).
 */
export const GET = apiHandler<{ name: string }>(async ({ req, actor, params }) => {
  const { format, images, requireVerificationSummary: summary } = parseQuery(req.nextUrl.searchParams, stagePolicyQuery);
  const rawImages = (images ?? []).flatMap((v) => v.split(","));
  if (rawImages.length > 100) throw new AppError("INVALID_INPUT", "at most 100 image patterns", "images");
  const out = await exportStagePolicy({ actor, stage: params.name, format, images: rawImages, requireVerificationSummary: summary === "true" });
  return new Response(out.content, {
    status: 200,
    headers: {
      "content-type": out.mediaType,
      "content-disposition": `attachment; filename="${out.filename}"`,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
});

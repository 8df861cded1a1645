import { AppError } from "@/lib/errors";
import { apiHandler } from "@/lib/server/http/api-handler";
import { exportStagePolicy } from "@/lib/server/stages/export-stage-policy";

export const dynamic = "force-dynamic";

/**
 * GET /api/v1/stages/{name}/policies?format=kyverno|kyverno-clusterpolicy|policy-controller|cosign
 *   [&images=glob[,glob…]] [&requireVerificationSummary=true]
 * The stage's admission policy as a file download (YAML, or a shell script for cosign).
 */
export const GET = apiHandler<{ name: string }>(async ({ req, actor, params }) => {
  const q = req.nextUrl.searchParams;
  const format = q.get("format");
  if (!format) throw new AppError("INVALID_INPUT", "format is required: kyverno, kyverno-clusterpolicy, policy-controller or cosign", "format");
  const rawImages = q.getAll("images").flatMap((v) => v.split(","));
  if (rawImages.length > 100) throw new AppError("INVALID_INPUT", "at most 100 image patterns", "images");
  const summary = q.get("requireVerificationSummary");
  if (summary !== null && summary !== "true" && summary !== "false") throw new AppError("INVALID_INPUT", "requireVerificationSummary must be true or false", "requireVerificationSummary");
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

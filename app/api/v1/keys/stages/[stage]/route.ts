import { apiHandler } from "@/lib/server/http/api-handler";
import { exportStageKeyHistory } from "@/lib/server/keys/export-key-history";

export const dynamic = "force-dynamic";

/** A stage's whole key history: JSON (default) or ?format=pem for one multi-PEM file. */
export const GET = apiHandler<{ stage: string }>(async ({ req, actor, params }) => {
  const format = req.nextUrl.searchParams.get("format") === "pem" ? "pem" : "json";
  const out = await exportStageKeyHistory({ actor, stage: params.stage, format });
  if (out.format === "json") return out;
  return new Response(out.pem, { headers: { "content-type": "application/x-pem-file", "content-disposition": `attachment; filename="${out.filename}"`, "cache-control": "no-store" } });
});

import { apiHandler } from "@/lib/server/http/api-handler";
import { keyHistoryQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";
import { exportStageKeyHistory } from "@/lib/server/keys/export-key-history";

export const dynamic = "force-dynamic";

/** A stage's whole key history: JSON (default) or ?format=pem for one multi-PEM file. */
export const GET = apiHandler<{ stage: string }>(async ({ req, actor, params }) => {
  const format = parseQuery(req.nextUrl.searchParams, keyHistoryQuery).format === "pem" ? "pem" : "json";
  const out = await exportStageKeyHistory({ actor, stage: params.stage, format });
  if (out.format === "json") return out;
  return new Response(out.pem, {
    headers: { "content-type": "application/x-pem-file", "content-disposition": `attachment; filename="${out.filename}"`, "cache-control": "no-store" },
  });
});

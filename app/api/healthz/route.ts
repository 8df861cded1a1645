import { NextResponse, type NextRequest } from "next/server";
import { isAppError } from "@/lib/errors";
import { checkHealth } from "@/lib/server/health/check-health";
import { healthQuery } from "@/lib/server/http/contract/schemas";
import { assertCleanSearchParams } from "@/lib/server/http/hostile-input";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

/**
 * GET /api/healthz: liveness probe, no authentication, no database.
 * GET /api/healthz?ready=1: readiness probe, 503 while the database does not answer.
 */
export async function GET(req: NextRequest): Promise<Response> {
  let ready: boolean;
  try {
    assertCleanSearchParams(req.nextUrl.searchParams);
    ready = parseQuery(req.nextUrl.searchParams, healthQuery).ready === "1";
  } catch (e) {
    if (isAppError(e)) return NextResponse.json(e.toJSON(), { status: e.status, headers: { "cache-control": "no-store" } });
    throw e;
  }
  const report = await checkHealth({ ready });
  return NextResponse.json(report, { status: report.status === "ok" ? 200 : 503, headers: { "cache-control": "no-store" } });
}

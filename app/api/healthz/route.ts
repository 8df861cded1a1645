import { NextResponse, type NextRequest } from "next/server";
import { isAppError } from "@/lib/errors";
import { checkHealth } from "@/lib/server/health/check-health";
import { assertCleanSearchParams } from "@/lib/server/http/hostile-input";

export const dynamic = "force-dynamic";

/**
 * GET /api/healthz: liveness probe, no authentication, no database.
 * GET /api/healthz?ready=1: readiness probe, 503 while the database does not answer.
 */
export async function GET(req: NextRequest): Promise<Response> {
  try {
    assertCleanSearchParams(req.nextUrl.searchParams);
  } catch (e) {
    if (isAppError(e)) return NextResponse.json(e.toJSON(), { status: e.status, headers: { "cache-control": "no-store" } });
    throw e;
  }
  const ready = req.nextUrl.searchParams.get("ready") === "1";
  const report = await checkHealth({ ready });
  return NextResponse.json(report, { status: report.status === "ok" ? 200 : 503, headers: { "cache-control": "no-store" } });
}

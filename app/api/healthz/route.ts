import { NextResponse, type NextRequest } from "next/server";
import { checkHealth } from "@/lib/server/health/check-health";

export const dynamic = "force-dynamic";

/**
 * GET /api/healthz: liveness probe, no authentication, no database.
 * GET /api/healthz?ready=1: readiness probe, 503 while the database does not answer.
 */
export async function GET(req: NextRequest): Promise<Response> {
  const ready = req.nextUrl.searchParams.get("ready") === "1";
  const report = await checkHealth({ ready });
  return NextResponse.json(report, { status: report.status === "ok" ? 200 : 503, headers: { "cache-control": "no-store" } });
}

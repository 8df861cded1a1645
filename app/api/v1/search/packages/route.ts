import { NextResponse } from "next/server";
import { AppError } from "@/lib/errors";
import { searchPackages, searchResultsCsv } from "@/lib/server/evidence/search-packages";
import { apiHandler } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

/** GET /api/v1/search/packages?q=openssl%20%3C%203.0.7[&format=csv|json][&limit=N][&deleted=1] */
export const GET = apiHandler(async ({ req, actor }) => {
  const sp = req.nextUrl.searchParams;
  const q = sp.get("q")?.trim();
  if (!q) throw new AppError("INVALID_INPUT", "q is required, e.g. openssl < 3.0.7 or pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1", "q");
  if (q.length > 500) throw new AppError("INVALID_INPUT", "q is longer than 500 characters", "q");
  const csv = sp.get("format") === "csv";
  const limitParam = sp.get("limit");
  if (limitParam && !/^\d{1,6}$/.test(limitParam)) throw new AppError("INVALID_INPUT", "limit must be a number of results (0 = all)", "limit");
  // CSV exports carry every digest; JSON pages by `limit` (default 500, 0 = all) and always reports `total`.
  const limit = csv || limitParam === "0" ? Infinity : limitParam ? Number(limitParam) : 500;
  const r = await searchPackages({ actor, q, includeDeleted: sp.get("deleted") === "1", limit });
  if (csv) {
    return new NextResponse(searchResultsCsv(r.results), { headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": 'attachment; filename="package-search.csv"', "cache-control": "no-store" } });
  }
  return r;
});

import { NextResponse } from "next/server";
import { searchPackages, searchResultsCsv } from "@/lib/server/evidence/search-packages";
import { apiHandler } from "@/lib/server/http/api-handler";
import { searchPackagesQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

/** GET /api/v1/search/packages?q=openssl%20%3C%203.0.7[&format=csv|json][&limit=N][&deleted=1] */
export const GET = apiHandler(async ({ req, actor }) => {
  const { q, format, limit: limitParam, deleted } = parseQuery(req.nextUrl.searchParams, searchPackagesQuery);
  const csv = format === "csv";
  // CSV exports carry every digest; JSON pages by `limit` (default 500, 0 = all) and always reports `total`.
  const limit = csv || limitParam === "0" ? Infinity : limitParam ? Number(limitParam) : 500;
  const r = await searchPackages({ actor, q, includeDeleted: deleted === "1", limit });
  if (csv) {
    return new NextResponse(searchResultsCsv(r.results), {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": 'attachment; filename="package-search.csv"',
        "cache-control": "no-store",
        // A CSV has no place for it in its rows: a list cut at the search's version limit says so here (JSON: `truncated`).
        ...(r.truncated ? { "x-imprimatur-truncated": "true" } : {}),
      },
    });
  }
  return r;
});

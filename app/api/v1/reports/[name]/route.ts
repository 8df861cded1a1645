import { AppError } from "@/lib/errors";
import { isReportName, parseReportFormat, parseReportPeriod, reportCsv, REPORT_NAMES } from "@/lib/report-format";
import { apiHandler } from "@/lib/server/http/api-handler";
import { getReport } from "@/lib/server/reports/get-report";

export const dynamic = "force-dynamic";

const KNOWN = new Set(["format", "from", "to"]);

// GET /api/v1/reports/{name}?format=csv|json&from=&to=  — one report table for a period (managers and admins).
export const GET = apiHandler<{ name: string }>(
  async ({ req, actor, params }) => {
    const sp = req.nextUrl.searchParams;
    if (!isReportName(params.name)) throw new AppError("INVALID_INPUT", `unknown report; one of ${REPORT_NAMES.join(", ")}`, "name");
    for (const k of sp.keys()) if (!KNOWN.has(k)) throw new AppError("INVALID_INPUT", `unknown parameter; reports take format, from and to`, k.slice(0, 40));
    const format = parseReportFormat(sp.get("format"));
    const period = parseReportPeriod(sp);
    const table = await getReport({ actor, name: params.name, period });
    if (format === "json") return table;
    const stamp = `${table.from.slice(0, 10)}_${table.to.slice(0, 10)}`;
    return new Response(reportCsv(table), {
      status: 200,
      headers: {
        "Content-Type": "text/csv; charset=utf-8; header=present",
        "Content-Disposition": `attachment; filename="imprimatur-${table.name}-${stamp}.csv"`,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      },
    });
  },
  { roles: ["admin", "manager"], what: "reading reports" },
);

import { AppError } from "@/lib/errors";
import { isReportName, parseReportPeriod, reportCsv, REPORT_NAMES } from "@/lib/report-format";
import { reportQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";
import { apiHandler } from "@/lib/server/http/api-handler";
import { getReport } from "@/lib/server/reports/get-report";

export const dynamic = "force-dynamic";

// GET /api/v1/reports/{name}?format=csv|json&from=&to=  — one report table for a period (managers and admins).
export const GET = apiHandler<{ name: string }>(
  async ({ req, actor, params }) => {
    const sp = req.nextUrl.searchParams;
    if (!isReportName(params.name)) throw new AppError("INVALID_INPUT", `unknown report; one of ${REPORT_NAMES.join(", ")}`, "name");
    const { format } = parseQuery(sp, reportQuery);
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

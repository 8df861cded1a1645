import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { isAppError } from "@/lib/errors";
import {
  parseReportPeriod,
  REPORT_DEFAULT_DAYS,
  REPORT_MAX_DAYS,
  WAIVER_SOON_DAYS,
  type ReportName,
  type ReportPeriod,
  type ReportTable,
} from "@/lib/report-format";
import { hasRole } from "@/lib/server/actor";
import { getReport } from "@/lib/server/reports/get-report";
import { BarChart, type BarSeries } from "@/components/bar-chart";

export const dynamic = "force-dynamic";

type SP = Record<string, string | string[] | undefined>;

const input = "rounded border border-slate-300 px-2 py-1";

const S = {
  green: { fill: "fill-emerald-600", swatch: "bg-emerald-600" },
  red: { fill: "fill-rose-600", swatch: "bg-rose-600" },
  amber: { fill: "fill-amber-500", swatch: "bg-amber-500" },
  sky: { fill: "fill-sky-600", swatch: "bg-sky-600" },
  slate: { fill: "fill-slate-500", swatch: "bg-slate-500" },
  violet: { fill: "fill-violet-600", swatch: "bg-violet-600" },
};

// Which columns each report charts (the table beside it shows them all). Break-glass uses are a list: no chart.
const CHARTS: Partial<Record<ReportName, { series: BarSeries[]; label: (r: Record<string, unknown>) => string; unit?: string }>> = {
  approvals: {
    label: (r) => `${r.stage} · ${r.team}`,
    series: [
      { key: "approved", label: "approved", ...S.green },
      { key: "rejected", label: "rejected", ...S.red },
      { key: "withdrawn", label: "withdrawn", ...S.slate },
    ],
  },
  "lead-time": {
    label: (r) => `${r.stage} · ${r.team}`,
    unit: " h",
    series: [
      { key: "median_hours", label: "median (hours)", ...S.sky },
      { key: "p90_hours", label: "p90 (hours)", ...S.violet },
    ],
  },
  reviewers: {
    label: (r) => `${r.email} · ${r.stage}`,
    series: [
      { key: "approvals", label: "approvals", ...S.green },
      { key: "rejections", label: "rejections", ...S.red },
    ],
  },
  waivers: {
    label: (r) => `${r.stage} · ${r.team}`,
    series: [
      { key: "in_force", label: "in force", ...S.sky },
      { key: "expiring_soon", label: `expiring within ${WAIVER_SOON_DAYS} days`, ...S.amber },
    ],
  },
  risk: {
    label: (r) => `${r.stage} · ${r.team}`,
    series: [
      { key: "critical", label: "critical findings", ...S.red },
      { key: "high", label: "high findings", ...S.amber },
      { key: "at_risk", label: "at risk", ...S.violet },
      { key: "expired", label: "expired approval", ...S.slate },
      { key: "unverified", label: "unsigned or unverified", ...S.sky },
    ],
  },
};

const ORDER: ReportName[] = ["approvals", "lead-time", "reviewers", "waivers", "break-glass", "risk"];

function toParams(sp: SP): URLSearchParams {
  const out = new URLSearchParams();
  for (const k of ["from", "to"]) {
    const v = sp[k];
    const s = Array.isArray(v) ? v[0] : v;
    if (s) out.set(k, s);
  }
  return out;
}

function utc(iso: string): string {
  return `${iso.slice(0, 16).replace("T", " ")} UTC`;
}

export default async function ReportsPage({ searchParams }: { searchParams: Promise<SP> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  if (!hasRole(actor, ["admin", "manager"])) {
    return (
      <p role="alert" className="rounded bg-rose-50 p-4 text-rose-800">
        Reports are open to managers and admins.
      </p>
    );
  }
  const raw = toParams(await searchParams);
  let period: ReportPeriod | null = null;
  let error: string | null = null;
  try {
    period = parseReportPeriod(raw);
  } catch (e) {
    if (!isAppError(e)) throw e;
    error = e.message;
  }
  const tables = period ? await Promise.all(ORDER.map((name) => getReport({ actor, name, period: period! }))) : [];
  const generatedAt = tables[0]?.generatedAt ?? new Date().toISOString();
  // Export links carry the exact period shown, so the download matches the page.
  const qs = period ? new URLSearchParams({ from: period.from.toISOString(), to: period.to.toISOString() }) : null;
  return (
    <div className="space-y-6" data-testid="reports">
      <div className="flex flex-wrap items-end gap-4">
        <h1 className="text-2xl font-semibold">Reports</h1>
        <form method="get" className="flex flex-wrap items-end gap-2 text-sm print:hidden" aria-label="Choose the period">
          <label className="flex flex-col text-xs text-slate-600">
            From
            <input name="from" type="date" defaultValue={raw.get("from")?.slice(0, 10) ?? ""} className={input} />
          </label>
          <label className="flex flex-col text-xs text-slate-600">
            To (inclusive)
            <input name="to" type="date" defaultValue={raw.get("to")?.slice(0, 10) ?? ""} className={input} />
          </label>
          <button className="rounded bg-slate-800 px-3 py-1 text-white hover:bg-slate-700">Show</button>
          <span className="text-xs text-slate-500">
            Default: the last {REPORT_DEFAULT_DAYS} days; at most {REPORT_MAX_DAYS} days.
          </span>
        </form>
      </div>
      {period && (
        <p data-testid="report-period" className="text-sm text-slate-700">
          Period <strong>{utc(period.from.toISOString())}</strong> to <strong>{utc(period.to.toISOString())}</strong> (end exclusive) · generated{" "}
          {utc(generatedAt)} by {actor.kind === "user" ? actor.email : actor.kind}. Team = the first path segment of the repository. Waivers and risk are a
          snapshot at the period&apos;s end (or now); findings and at-risk flags are the current ones.
        </p>
      )}
      {error && (
        <p role="alert" data-testid="report-error" className="rounded bg-rose-50 p-3 text-sm text-rose-800">
          {error}
        </p>
      )}
      {tables.map((t) => (
        <ReportSection key={t.name} table={t} qs={qs!} />
      ))}
    </div>
  );
}

function ReportSection({ table, qs }: { table: ReportTable; qs: URLSearchParams }) {
  const chart = CHARTS[table.name];
  const records = table.rows.map((r) => Object.fromEntries(table.columns.map((c, i) => [c, r[i]])));
  const headingId = `report-${table.name}`;
  return (
    <section
      aria-labelledby={headingId}
      data-testid={`report-${table.name}`}
      className="report-section space-y-2 rounded-lg border border-slate-200 bg-white p-4"
    >
      <div className="flex flex-wrap items-center gap-3">
        <h2 id={headingId} className="text-lg font-semibold">
          {table.title}
        </h2>
        <span className="ml-auto flex gap-2 text-sm print:hidden">
          <a
            data-testid={`export-${table.name}-csv`}
            className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
            href={`/api/v1/reports/${table.name}?format=csv&${qs}`}
            download
          >
            Export CSV
          </a>
          <a
            data-testid={`export-${table.name}-json`}
            className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
            href={`/api/v1/reports/${table.name}?format=json&${qs}`}
          >
            JSON
          </a>
        </span>
      </div>
      <div className="flex flex-col gap-4 lg:flex-row">
        {chart && (
          <BarChart
            id={`chart-${table.name}`}
            title={`${table.title}, per ${table.name === "reviewers" ? "reviewer and stage" : "stage and team"}`}
            series={chart.series}
            unit={chart.unit}
            categories={records.map((r) => ({ label: chart.label(r), values: Object.fromEntries(chart.series.map((s) => [s.key, Number(r[s.key] ?? 0)])) }))}
          />
        )}
        <div className="min-w-0 flex-1 overflow-x-auto">
          <table className="w-full text-left text-xs" data-testid={`table-${table.name}`}>
            <caption className="sr-only">{table.title}</caption>
            <thead>
              <tr className="border-b border-slate-200 text-slate-500">
                {table.columns.map((c) => (
                  <th key={c} scope="col" className="px-2 py-1 font-medium">
                    {c.replace(/_/g, " ")}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.length === 0 && (
                <tr>
                  <td colSpan={table.columns.length} className="px-2 py-3 text-slate-500">
                    Nothing in this period.
                  </td>
                </tr>
              )}
              {table.rows.map((r, i) => (
                <tr key={i} className="border-b border-slate-100">
                  {r.map((v, j) => (
                    <td key={j} className={`px-2 py-1 ${typeof v === "number" ? "text-right tabular-nums" : "break-all"}`}>
                      {v === null ? "—" : String(v)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}

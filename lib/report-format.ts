// Reports for managers and auditors: names, columns, the period and the CSV writer. Pure (no Next, no Prisma), so
// the API, the page and the unit tests share one definition.
import { AppError } from "./errors";

export const REPORT_NAMES = ["approvals", "lead-time", "reviewers", "waivers", "break-glass", "risk"] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

export const REPORT_TITLES: Record<ReportName, string> = {
  approvals: "Approvals and rejections",
  "lead-time": "Lead time from request to signature",
  reviewers: "Reviews per reviewer",
  waivers: "Waivers in force",
  "break-glass": "Break-glass uses",
  risk: "Images in each stage by risk",
};

/** A report's period is capped so one request cannot aggregate the whole history by accident. */
export const REPORT_MAX_DAYS = 366;
/** The default period when the URL names none. */
export const REPORT_DEFAULT_DAYS = 30;
/** Waivers that end within this many days of the period's end are "expiring soon". */
export const WAIVER_SOON_DAYS = 14;

export type Cell = string | number | boolean | null;
export interface ReportTable {
  name: ReportName;
  title: string;
  from: string;
  to: string;
  generatedAt: string;
  columns: readonly string[];
  rows: Cell[][];
}

export function isReportName(v: string): v is ReportName {
  return (REPORT_NAMES as readonly string[]).includes(v);
}

const CONTROL = /[\u0000-\u001f\u007f]/;

function parseTime(field: "from" | "to", v: string | null): Date | undefined {
  if (v === null || v === "") return undefined;
  if (v.length > 40 || CONTROL.test(v)) throw new AppError("INVALID_INPUT", `${field} must be a date (YYYY-MM-DD) or an ISO-8601 time with a zone`, field);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)) {
    throw new AppError("INVALID_INPUT", `${field} must be a date (YYYY-MM-DD) or an ISO-8601 time with a zone, got ${JSON.stringify(v)}`, field);
  }
  const d = new Date(v.length === 10 ? `${v}T00:00:00Z` : v);
  // Date parsing rolls 2026-02-31 over to March: refuse any date that does not read back as written.
  if (Number.isNaN(d.getTime()) || (v.length === 10 && d.toISOString().slice(0, 10) !== v))
    throw new AppError("INVALID_INPUT", `${field} is not a valid date: ${JSON.stringify(v)}`, field);
  // Postgres has no year 0 (nor does ISO 8601 before 1 without agreement): 0000-01-01 became a 500 (found by review).
  if (d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) throw new AppError("INVALID_INPUT", `${field} must lie in the years 1 to 9999`, field);
  return d;
}

export interface ReportPeriod {
  from: Date;
  /** Exclusive end. A bare date as `to` means the whole of that UTC day. */
  to: Date;
}

/**
 * The period of a report from the URL's `from` and `to`: dates (a bare `to` date includes that whole day) or
 * ISO-8601 times. Without `to` the period ends now; without `from` it starts REPORT_DEFAULT_DAYS before `to`.
 */
export function parseReportPeriod(sp: URLSearchParams, now = new Date()): ReportPeriod {
  const rawTo = sp.get("to");
  let to = parseTime("to", rawTo);
  if (to && rawTo?.length === 10) to = new Date(to.getTime() + 86_400_000);
  const end = to ?? now;
  const from = parseTime("from", sp.get("from")) ?? new Date(end.getTime() - REPORT_DEFAULT_DAYS * 86_400_000);
  if (end <= from) throw new AppError("INVALID_INPUT", "to must be after from", "to");
  if (end.getTime() - from.getTime() > REPORT_MAX_DAYS * 86_400_000)
    throw new AppError("INVALID_INPUT", `the period is longer than ${REPORT_MAX_DAYS} days; choose a shorter one`, "to");
  return { from, to: end };
}

export function parseReportFormat(v: string | null): "csv" | "json" {
  if (v === null || v === "" || v === "json") return "json";
  if (v === "csv") return "csv";
  throw new AppError("INVALID_INPUT", "format must be csv or json", "format");
}

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break. A text cell that starts with = + - @,
 * a tab or a line break (see formulaSafe) is what spreadsheets run as a formula (repository names, comments and reasons are typed
 * by users): it gets a leading apostrophe inside quotes, as OWASP recommends. Numbers are written as numbers.
 */
export function csvCell(v: Cell): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  if (typeof v === "boolean") return v ? "true" : "false";
  const s = formulaSafe(v);
  return s !== v || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * What spreadsheets may run as a formula: = + - @ first, also after leading white space (some trim it) or in their
 * full-width forms (East Asian input methods), and a tab, carriage return or line feed first.
 */
const FORMULA_START = /^(?:[\s\u00a0\u3000]*[=+\-@\uff1d\uff0b\uff0d\uff20]|[\t\r\n])/;

/** The text of a CSV cell with a leading apostrophe when a spreadsheet could run it as a formula (OWASP). */
export function formulaSafe(v: string): string {
  return FORMULA_START.test(v) ? `'${v}` : v;
}

/** The report as CSV: a header row, then one line per row, CRLF line ends (RFC 4180). */
export function reportCsv(t: Pick<ReportTable, "columns" | "rows">): string {
  return [t.columns.map(csvCell).join(","), ...t.rows.map((r) => r.map(csvCell).join(","))].join("\r\n") + "\r\n";
}

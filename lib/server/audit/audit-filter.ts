import "server-only";
import { AUDIT_FAMILIES } from "../../audit-catalogue";
import { isAuditEventKind } from "../../audit-events";
import { Prisma } from "../../db";
import { AppError } from "../../errors";

/** Filters of the audit trail, parsed from the URL (page, API, export and CLI share them). */
export interface AuditFilter {
  /** Exact actor label, e.g. "alice@example.com" or "system:scheduler". */
  actor?: string;
  /** An exact kind ("review.approve") or a family ("review"). */
  action?: { kind: "exact"; value: string } | { kind: "family"; value: string };
  target?: { kind: "digest" | "repository" | "registry" | "stage" | "request" | "text"; value: string };
  outcome?: "success" | "failure" | "denied";
  from?: Date;
  to?: Date;
}

export const OUTCOMES = ["success", "failure", "denied"] as const;
export const TARGET_KINDS = ["digest", "repository", "registry", "stage", "request"] as const;
/** Export ranges are capped so one request cannot walk the whole table by accident. */
export const EXPORT_MAX_DAYS = 366;

// Refuse control characters outright: these strings end up in SQL parameters, CSV cells and the page.
const CONTROL = /[\u0000-\u001f\u007f]/;

function text(field: string, v: string | null, max: number): string | undefined {
  if (v === null || v === "") return undefined;
  if (v.length > max) throw new AppError("INVALID_INPUT", `${field} is longer than ${max} characters`, field);
  if (CONTROL.test(v)) throw new AppError("INVALID_INPUT", `${field} contains control characters`, field);
  return v;
}

function time(field: string, v: string | null): Date | undefined {
  const s = text(field, v, 40);
  if (!s) return undefined;
  // A date (2026-01-31, the whole UTC day starts there) or an ISO-8601 date-time with a zone.
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(s)) {
    throw new AppError("INVALID_INPUT", `${field} must be a date (YYYY-MM-DD) or an ISO-8601 time with a zone, got ${JSON.stringify(s)}`, field);
  }
  const d = new Date(s.length === 10 ? `${s}T00:00:00Z` : s);
  // Year 0 parses, but Postgres refuses it (no year 0 in its calendar): that was a 500 (found by review).
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1) throw new AppError("INVALID_INPUT", `${field} is not a valid time: ${JSON.stringify(s)}`, field);
  return d;
}

export function parseAuditAction(v: string | undefined): AuditFilter["action"] {
  if (!v) return undefined;
  const family = v.endsWith(".*") ? v.slice(0, -2) : v;
  if (AUDIT_FAMILIES.includes(family)) return { kind: "family", value: family };
  if (isAuditEventKind(v) || /^cli\.[a-z-]+(\.[a-z-]+)?$/.test(v)) return { kind: "exact", value: v };
  throw new AppError("INVALID_INPUT", `action ${JSON.stringify(v)} is not a known event kind or family; families: ${AUDIT_FAMILIES.join(", ")}`, "action");
}

function parseTarget(v: string | undefined): AuditFilter["target"] {
  if (!v) return undefined;
  if (/^sha256:[0-9a-f]{64}$/.test(v)) return { kind: "digest", value: v };
  const m = /^(digest|repository|registry|stage|request):(.+)$/.exec(v);
  if (!m) return { kind: "text", value: v };
  const kind = m[1] as (typeof TARGET_KINDS)[number];
  const value = m[2]!;
  if (kind === "digest" && !/^sha256:[0-9a-f]{64}$/.test(value))
    throw new AppError("INVALID_INPUT", "target digest must be sha256: and 64 hex digits", "target");
  if (kind === "request" && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value))
    throw new AppError("INVALID_INPUT", "target request must be a request id (UUID)", "target");
  if (kind === "registry" && value.includes("/")) throw new AppError("INVALID_INPUT", "target registry is a registry name, without /", "target");
  return { kind, value };
}

export interface ParsedAuditQuery {
  filter: AuditFilter;
  cursor?: bigint;
  limit: number;
}

/** Parses `actor, action, target, outcome, from, to, cursor, limit`; any malformed one is a 422 naming it. */
export function parseAuditQuery(sp: URLSearchParams, { maxLimit = 500, defaultLimit = 50, extra = [] as string[] } = {}): ParsedAuditQuery {
  const known = new Set(["actor", "action", "target", "outcome", "from", "to", "cursor", "limit", ...extra]);
  for (const k of sp.keys())
    if (!known.has(k))
      throw new AppError("INVALID_INPUT", `unknown parameter ${JSON.stringify(k.slice(0, 40))}; filters are ${[...known].join(", ")}`, k.slice(0, 40));
  const actor = text("actor", sp.get("actor"), 320);
  const action = parseAuditAction(text("action", sp.get("action"), 80));
  const target = parseTarget(text("target", sp.get("target"), 600));
  const outcomeRaw = text("outcome", sp.get("outcome"), 20);
  if (outcomeRaw && !(OUTCOMES as readonly string[]).includes(outcomeRaw))
    throw new AppError("INVALID_INPUT", `outcome must be one of ${OUTCOMES.join(", ")}`, "outcome");
  const from = time("from", sp.get("from"));
  let to = time("to", sp.get("to"));
  // A bare date as the end means the whole of that day.
  if (to && /^\d{4}-\d{2}-\d{2}$/.test(sp.get("to") ?? "")) to = new Date(to.getTime() + 86_400_000);
  if (from && to && from >= to) throw new AppError("INVALID_INPUT", "to must be after from", "to");
  const cursorRaw = text("cursor", sp.get("cursor"), 19);
  if (cursorRaw && !/^[1-9]\d{0,17}$/.test(cursorRaw))
    throw new AppError("INVALID_INPUT", "cursor must be the seq of the last event of the previous page", "cursor");
  const limitRaw = text("limit", sp.get("limit"), 6);
  if (limitRaw && (!/^\d{1,6}$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > maxLimit))
    throw new AppError("INVALID_INPUT", `limit must be 1-${maxLimit}`, "limit");
  return {
    filter: { actor, action, target, outcome: outcomeRaw as AuditFilter["outcome"], from, to },
    cursor: cursorRaw ? BigInt(cursorRaw) : undefined,
    limit: limitRaw ? Number(limitRaw) : defaultLimit,
  };
}

/** The filter back as URL parameters (links to the next page, the export, a sentence's actor). */
export function auditFilterParams(f: AuditFilter): URLSearchParams {
  const sp = new URLSearchParams();
  if (f.actor) sp.set("actor", f.actor);
  if (f.action) sp.set("action", f.action.value);
  if (f.target) sp.set("target", f.target.kind === "text" || f.target.kind === "digest" ? f.target.value : `${f.target.kind}:${f.target.value}`);
  if (f.outcome) sp.set("outcome", f.outcome);
  if (f.from) sp.set("from", f.from.toISOString());
  if (f.to) sp.set("to", f.to.toISOString());
  return sp;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * The WHERE conditions. Each is written to match an index of migration 20261203160000_audit_filters:
 * actor_label and action/target (COLLATE "C" so a family prefix is a plain range) with seq second for ordered scans,
 * and expression indexes on detail->>'stage' and detail->>'requestId'.
 */
export function auditWhere(f: AuditFilter): Prisma.Sql[] {
  const c: Prisma.Sql[] = [];
  if (f.actor) c.push(Prisma.sql`actor_label = ${f.actor}`);
  if (f.action?.kind === "exact") c.push(Prisma.sql`action COLLATE "C" = ${f.action.value}`);
  // '/' sorts right after '.' in byte order, so [family., family/) is every action of the family.
  if (f.action?.kind === "family") c.push(Prisma.sql`action COLLATE "C" >= ${`${f.action.value}.`} AND action COLLATE "C" < ${`${f.action.value}/`}`);
  if (f.outcome) c.push(Prisma.sql`outcome = ${f.outcome}`);
  if (f.from) c.push(Prisma.sql`at >= ${f.from}`);
  if (f.to) c.push(Prisma.sql`at < ${f.to}`);
  const t = f.target;
  if (t) {
    switch (t.kind) {
      case "digest":
        c.push(Prisma.sql`target_digest = ${t.value}`);
        break;
      case "repository":
        c.push(Prisma.sql`target COLLATE "C" = ${t.value}`);
        break;
      case "registry":
        // Registry events name the registry; image events name "registry/repository".
        c.push(Prisma.sql`(target COLLATE "C" = ${t.value} OR (target COLLATE "C" >= ${`${t.value}/`} AND target COLLATE "C" < ${`${t.value}0`}))`);
        break;
      case "stage":
        c.push(
          Prisma.sql`(detail->>'stage' = ${t.value} OR (target COLLATE "C" = ${`stage ${t.value}`}) OR (action COLLATE "C" IN ('stage.create', 'stage.update') AND target COLLATE "C" = ${t.value}))`,
        );
        break;
      case "request":
        c.push(Prisma.sql`detail->>'requestId' = ${t.value.toLowerCase()}`);
        break;
      case "text":
        c.push(Prisma.sql`target COLLATE "C" LIKE ${`%${likeEscape(t.value)}%`}`);
        break;
      default: {
        const never: never = t.kind;
        throw new Error(`unhandled target kind ${String(never)}`);
      }
    }
  }
  return c;
}

export function whereSql(conds: Prisma.Sql[]): Prisma.Sql {
  return conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, " AND ")}` : Prisma.empty;
}

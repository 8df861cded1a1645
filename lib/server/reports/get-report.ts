import "server-only";
import { db, Prisma } from "../../db";
import { REPORT_TITLES, WAIVER_SOON_DAYS, type Cell, type ReportName, type ReportPeriod, type ReportTable } from "../../report-format";
import { requireRole, type Actor } from "../actor";

export interface GetReportOptions {
  actor: Actor;
  name: ReportName;
  period: ReportPeriod;
  now?: Date;
}

/** Listings (expiring waivers, break-glass uses) stop at this many rows; aggregates are small by nature. */
export const REPORT_LIST_CAP = 10_000;

// The team of an image is the first path segment of its repository ("apps/payments-api" → "apps"): the schema has
// no owning group per repository, and namespaces are how registries (and the trust scopes, `apps/**`) group them.
const TEAM = Prisma.sql`(CASE WHEN strpos(rp.name, '/') > 0 THEN split_part(rp.name, '/', 1) ELSE '(root)' END)`;

type Row = Record<string, unknown>;

function cell(v: unknown): Cell {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (Array.isArray(v)) return v.map(String).join(" ");
  return String(v);
}

/**
 * One report for a period, aggregated in Postgres (GROUP BY, percentile_cont): Node only receives the summary rows.
 * Managers and admins only. Snapshot reports (waivers, risk) are taken at the period's end, or now if that is later
 * than now; findings and stage risks are the current ones (the database keeps no history of them).
 */
export async function getReport({ actor, name, period, now = new Date() }: GetReportOptions): Promise<ReportTable> {
  requireRole(actor, ["admin", "manager"], "reading reports");
  const { from, to } = period;
  const at = to < now ? to : now;
  const q = QUERIES[name];
  const { columns, sql } = q({ from, to, at });
  const rows = await db.$queryRaw<Row[]>(sql);
  return {
    name,
    title: REPORT_TITLES[name],
    from: from.toISOString(),
    to: to.toISOString(),
    generatedAt: now.toISOString(),
    columns,
    rows: rows.map((r) => columns.map((c) => cell(r[c]))),
  };
}

type Q = (p: { from: Date; to: Date; at: Date }) => { columns: readonly string[]; sql: Prisma.Sql };

const QUERIES: Record<ReportName, Q> = {
  // Requests opened in the period, and those decided in it: approved (the Nth approval, signed or being pushed),
  // rejected, withdrawn; break-glass counts the approved ones an admin forced.
  approvals: ({ from, to }) => ({
    columns: ["stage", "team", "requested", "approved", "rejected", "withdrawn", "break_glass"],
    sql: Prisma.sql`
      SELECT s.name AS stage, ${TEAM} AS team,
        count(*) FILTER (WHERE pr.created_at >= ${from} AND pr.created_at < ${to})::int AS requested,
        count(*) FILTER (WHERE pr.status::text IN ('approved', 'signed') AND pr.decided_at >= ${from} AND pr.decided_at < ${to})::int AS approved,
        count(*) FILTER (WHERE pr.status::text = 'rejected' AND pr.decided_at >= ${from} AND pr.decided_at < ${to})::int AS rejected,
        count(*) FILTER (WHERE pr.status::text = 'withdrawn' AND pr.decided_at >= ${from} AND pr.decided_at < ${to})::int AS withdrawn,
        count(*) FILTER (WHERE pr.break_glass AND pr.status::text IN ('approved', 'signed') AND pr.decided_at >= ${from} AND pr.decided_at < ${to})::int AS break_glass
      FROM promotion_requests pr
      JOIN stages s ON s.id = pr.stage_id
      JOIN images i ON i.id = pr.image_id
      JOIN repositories rp ON rp.id = i.repository_id
      WHERE (pr.created_at >= ${from} AND pr.created_at < ${to}) OR (pr.decided_at >= ${from} AND pr.decided_at < ${to})
      GROUP BY s.name, s.position, 2
      ORDER BY s.position, 2`,
  }),
  // From the request to the server's stage signature (the approval row is written when the server signs).
  "lead-time": ({ from, to }) => ({
    columns: ["stage", "team", "signatures", "median_hours", "p90_hours", "max_hours"],
    sql: Prisma.sql`
      SELECT stage, team, count(*)::int AS signatures,
        round((percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) / 3600)::numeric, 2)::float8 AS median_hours,
        round((percentile_cont(0.9) WITHIN GROUP (ORDER BY secs) / 3600)::numeric, 2)::float8 AS p90_hours,
        round((max(secs) / 3600)::numeric, 2)::float8 AS max_hours
      FROM (
        SELECT s.name AS stage, s.position, ${TEAM} AS team, extract(epoch FROM a.created_at - pr.created_at)::float8 AS secs
        FROM approvals a
        JOIN promotion_requests pr ON pr.id = a.request_id
        JOIN stages s ON s.id = a.stage_id
        JOIN images i ON i.id = a.image_id
        JOIN repositories rp ON rp.id = i.repository_id
        WHERE a.created_at >= ${from} AND a.created_at < ${to}
      ) x
      GROUP BY stage, position, team
      ORDER BY position, team`,
  }),
  reviewers: ({ from, to }) => ({
    columns: ["reviewer", "email", "stage", "approvals", "rejections", "break_glass"],
    sql: Prisma.sql`
      SELECT u.name AS reviewer, u.email, s.name AS stage,
        count(*) FILTER (WHERE rv.decision::text = 'approve')::int AS approvals,
        count(*) FILTER (WHERE rv.decision::text = 'reject')::int AS rejections,
        count(*) FILTER (WHERE rv.break_glass)::int AS break_glass
      FROM reviews rv
      JOIN users u ON u.id = rv.reviewer_id
      JOIN promotion_requests pr ON pr.id = rv.request_id
      JOIN stages s ON s.id = pr.stage_id
      WHERE rv.created_at >= ${from} AND rv.created_at < ${to}
      GROUP BY u.name, u.email, s.name, s.position
      ORDER BY count(*) DESC, u.email, s.position`,
  }),
  // In force at the snapshot time; "expiring soon" ends within WAIVER_SOON_DAYS of it. Granted/revoked: in the period.
  waivers: ({ from, to, at }) => {
    const soon = new Date(at.getTime() + WAIVER_SOON_DAYS * 86_400_000);
    const inForce = Prisma.sql`w.created_at <= ${at} AND (w.revoked_at IS NULL OR w.revoked_at > ${at}) AND w.expires_at > ${at}`;
    return {
      columns: ["stage", "team", "in_force", "expiring_soon", "granted", "revoked"],
      sql: Prisma.sql`
        SELECT s.name AS stage, ${TEAM} AS team,
          count(*) FILTER (WHERE ${inForce})::int AS in_force,
          count(*) FILTER (WHERE ${inForce} AND w.expires_at <= ${soon})::int AS expiring_soon,
          count(*) FILTER (WHERE w.created_at >= ${from} AND w.created_at < ${to})::int AS granted,
          count(*) FILTER (WHERE w.revoked_at >= ${from} AND w.revoked_at < ${to})::int AS revoked
        FROM waivers w
        JOIN stages s ON s.id = w.stage_id
        JOIN repositories rp ON rp.id = w.repository_id
        WHERE (${inForce}) OR (w.created_at >= ${from} AND w.created_at < ${to}) OR (w.revoked_at >= ${from} AND w.revoked_at < ${to})
        GROUP BY s.name, s.position, 2
        ORDER BY s.position, 2`,
    };
  },
  // Break-glass approvals made in the period, newest first.
  "break-glass": ({ from, to }) => ({
    columns: ["at", "admin", "stage", "team", "repository", "digest", "comment"],
    sql: Prisma.sql`
      SELECT rv.created_at AS at, u.email AS admin, s.name AS stage, ${TEAM} AS team, rp.name AS repository, i.digest, rv.comment
      FROM reviews rv
      JOIN users u ON u.id = rv.reviewer_id
      JOIN promotion_requests pr ON pr.id = rv.request_id
      JOIN stages s ON s.id = pr.stage_id
      JOIN images i ON i.id = pr.image_id
      JOIN repositories rp ON rp.id = i.repository_id
      WHERE rv.break_glass AND rv.created_at >= ${from} AND rv.created_at < ${to}
      ORDER BY rv.created_at DESC
      LIMIT ${REPORT_LIST_CAP}`,
  }),
  // Images holding an unrevoked stage approval at the snapshot time, per stage and team: with applicable critical /
  // high findings (VEX not_affected / fixed and withdrawn documents left out), at risk (stage_risks: the gates no
  // longer hold), expired (older than the stage's approval TTL by the signature's trusted time), the stage signature
  // not yet in the registry, and no signature at all / none verified. "(inventory)" rows cover every image.
  risk: ({ at }) => ({
    columns: ["stage", "team", "images", "critical", "high", "at_risk", "expired", "signature_pending", "unsigned", "unverified"],
    sql: Prisma.sql`
      WITH in_stage AS (
        SELECT DISTINCT ON (a.image_id, a.stage_id) a.image_id, a.stage_id, a.status::text AS status, a.ages_from AS aged_from
        FROM approvals a
        WHERE a.created_at <= ${at} AND (a.revoked_at IS NULL OR a.revoked_at > ${at})
        ORDER BY a.image_id, a.stage_id, a.created_at DESC
      ), subjects AS (
        SELECT x.image_id, x.stage_id, x.status, x.aged_from FROM in_stage x
        UNION ALL
        SELECT i.id, NULL::uuid, NULL, NULL FROM images i WHERE i.deleted_at IS NULL AND i.first_seen_at <= ${at}
      ), sev AS (
        SELECT f.image_id, bool_or(f.severity = 'critical') AS critical, bool_or(f.severity = 'high') AS high
        FROM findings f
        LEFT JOIN evidence_documents d ON d.id = f.document_id
        WHERE f.status NOT IN ('not_affected', 'fixed') AND d.withdrawn_at IS NULL AND d.not_counted IS NULL AND f.severity IN ('critical', 'high')
        GROUP BY f.image_id
      ), sig AS (
        SELECT image_id, bool_or(verdict = 'verified') AS verified FROM signatures GROUP BY image_id
      )
      SELECT COALESCE(s.name, '(inventory)') AS stage, ${TEAM} AS team, count(*)::int AS images,
        count(*) FILTER (WHERE sev.critical)::int AS critical,
        count(*) FILTER (WHERE sev.high)::int AS high,
        count(*) FILTER (WHERE sr.id IS NOT NULL)::int AS at_risk,
        count(*) FILTER (WHERE approval_expiry(x.aged_from, s.approval_ttl_days) <= ${at})::int AS expired,
        count(*) FILTER (WHERE x.status = 'signing')::int AS signature_pending,
        count(*) FILTER (WHERE sig.image_id IS NULL)::int AS unsigned,
        count(*) FILTER (WHERE sig.image_id IS NOT NULL AND NOT sig.verified)::int AS unverified
      FROM subjects x
      LEFT JOIN stages s ON s.id = x.stage_id
      JOIN images i ON i.id = x.image_id
      JOIN repositories rp ON rp.id = i.repository_id
      LEFT JOIN sev ON sev.image_id = x.image_id
      LEFT JOIN sig ON sig.image_id = x.image_id
      LEFT JOIN stage_risks sr ON sr.image_id = x.image_id AND sr.stage_id = x.stage_id
      GROUP BY s.name, s.position, 2
      ORDER BY s.position NULLS LAST, 2`,
  }),
};

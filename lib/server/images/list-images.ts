import "server-only";
import { z } from "zod";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { imagePlatformsColumn, readDisplayJson } from "../json-columns";
import type { Actor } from "../actor";
import type { StageState } from "./read-stage-decisions";
import { baseReference, type ChainLink } from "./signature-chain";
import { NOT_APPLICABLE, SEVERITIES } from "../evidence/get-image-evidence";

export const listImagesQuery = z.object({
  registry: z.string().max(100).optional(),
  /** Substring of the repository name. */
  repository: z.string().max(255).optional(),
  /** Substring of a tag pointing at the image. */
  tag: z.string().max(128).optional(),
  /** Digest prefix, with or without "sha256:". */
  digest: z
    .string()
    .regex(/^(sha256:)?[a-f0-9]{1,64}$/, "must be a hex digest prefix")
    .optional(),
  signed: z.enum(["any", "signed", "verified", "unsigned"]).default("any"),
  /** Images that passed this stage, or "none" for images that passed no stage. */
  stage: z.string().max(64).optional(),
  deleted: z.enum(["hide", "show", "only"]).default("hide"),
  /** "1": only images with an approved stage whose gates no longer hold (see lib/server/reevaluation). */
  atRisk: z.enum(["0", "1"]).optional(),
  /** Images with at least one open finding of this severity (as the list's severity summary counts them). */
  severity: z.enum(SEVERITIES).optional(),
  sort: z.enum(["repository", "seen", "created"]).default("repository"),
  dir: z.enum(["asc", "desc"]).default("asc"),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListImagesQuery = z.infer<typeof listImagesQuery>;

export function parseListImagesQuery(params: URLSearchParams | Record<string, string | undefined>): ListImagesQuery {
  const obj = params instanceof URLSearchParams ? Object.fromEntries(params) : params;
  const clean = Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== ""));
  const r = listImagesQuery.safeParse(clean);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AppError("INVALID_INPUT", `${i.path.join(".")}: ${i.message}`, String(i.path[0]));
  }
  return r.data;
}

const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The filters of the list as SQL conditions on images i, repositories r and registries g. */
function filters(q: ListImagesQuery): Prisma.Sql[] {
  const where: Prisma.Sql[] = [Prisma.sql`i.parent_digest IS NULL`];
  if (q.deleted === "hide") where.push(Prisma.sql`i.deleted_at IS NULL`);
  if (q.deleted === "only") where.push(Prisma.sql`i.deleted_at IS NOT NULL`);
  if (q.registry) where.push(Prisma.sql`g.name = ${q.registry}`);
  if (q.atRisk === "1") where.push(Prisma.sql`EXISTS (SELECT 1 FROM stage_risks sr WHERE sr.image_id = i.id)`);
  if (q.repository) where.push(Prisma.sql`r.name ILIKE ${like(q.repository.toLowerCase())}`);
  if (q.tag) where.push(Prisma.sql`EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.digest = i.digest AND t.name ILIKE ${like(q.tag)})`);
  if (q.digest) where.push(Prisma.sql`i.digest LIKE ${(q.digest.startsWith("sha256:") ? q.digest : `sha256:${q.digest}`) + "%"}`);
  if (q.signed === "signed") where.push(Prisma.sql`EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)`);
  if (q.signed === "verified") where.push(Prisma.sql`EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id AND s.verdict = 'verified')`);
  if (q.signed === "unsigned") where.push(Prisma.sql`NOT EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)`);
  if (q.severity) where.push(Prisma.sql`EXISTS (SELECT 1 FROM findings f WHERE f.image_id = i.id AND f.severity = ${q.severity} AND ${openFinding})`);
  // A stage counts as passed as the decisions computed ahead say (stage_decision() in SQL, the one definition:
  // a signed, unrevoked, unexpired approval whose layer verifies in the registry). A row past its valid_until is
  // judged again by stage_decision_now().
  const passed = (stage: Prisma.Sql) => Prisma.sql`EXISTS (SELECT 1 FROM stage_decisions d JOIN stages st ON st.id = d.stage_id
      WHERE d.image_id = i.id AND d.allowed ${stage}
        AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n)))`;
  if (q.stage === "none") where.push(Prisma.sql`NOT ${passed(Prisma.empty)}`);
  else if (q.stage) where.push(passed(Prisma.sql`AND st.name = ${q.stage}`));
  return where;
}

/** A finding that counts: not judged inapplicable (VEX), and not from a withdrawn or not-counted document (advisory findings have none). */
const openFinding = Prisma.sql`f.status NOT IN (${Prisma.join(NOT_APPLICABLE)})
  AND NOT EXISTS (SELECT 1 FROM evidence_documents wd WHERE wd.id = f.document_id AND (wd.withdrawn_at IS NOT NULL OR wd.not_counted IS NOT NULL))`;

/** ORDER BY over the given columns (the page query sorts the images, the outer query its 50 rows again). */
function orderBy(
  q: ListImagesQuery,
  c: { registry: string; repository: string; firstSeen: string; lastSeen: string; created: string; id: string },
): Prisma.Sql {
  const dir = q.dir === "desc" ? "DESC" : "ASC";
  const cols =
    q.sort === "seen"
      ? `${c.lastSeen} ${dir}, ${c.id}`
      : q.sort === "created"
        ? `${c.created} ${dir} NULLS LAST, ${c.id}`
        : `${c.registry} ${dir}, ${c.repository} ${dir}, ${c.firstSeen} DESC, ${c.id}`;
  // Only fixed column names and ASC/DESC reach the raw text; every value is a parameter.
  return Prisma.raw(cols);
}

interface PageRow {
  id: string;
  total: bigint;
  registry: string;
  repository: string;
  digest: string;
  media_type: string;
  size: number;
  platforms: unknown;
  os: string | null;
  architecture: string | null;
  variant: string | null;
  deleted_at: Date | null;
  config_created: Date | null;
  last_seen_at: Date;
  /** The manifest only when it may name a base image (".base." or a JSON escape in it); else null, unread. */
  base_manifest: Uint8Array | null;
  tags: string[];
  sig_total: number;
  sig_verified: number;
  pub_total: number;
  pub_verified: boolean | null;
  team_total: number;
  team_verified: boolean | null;
  artifacts: number;
  pending: number;
  stages: { stage: string; state: StageState; detail: string }[] | null;
  severities: { severity: string; n: number }[] | null;
  has_scan: boolean;
  risks: { stage: string; since: string; reasons: string[]; revokeAt: string | null }[] | null;
  moves: { tag: string; from: string; to: string | null; seenAt: string; away: boolean; prior: string | null }[] | null;
}

/**
 * One page of the list in one statement: the images matching the filters, sorted and cut to the page (with the
 * total), then for each of them only what the list shows. Stage states come from stage_decisions (kept by triggers;
 * a row past its valid_until is judged again by stage_decision()); a stage without a row has no approval.
 */
async function findPage(q: ListImagesQuery): Promise<PageRow[]> {
  const inner = orderBy(q, {
    registry: "g.name",
    repository: "r.name",
    firstSeen: "i.first_seen_at",
    lastSeen: "i.last_seen_at",
    created: "i.config_created",
    id: "i.id",
  });
  const outer = orderBy(q, {
    registry: "p.registry",
    repository: "p.repository",
    firstSeen: "p.first_seen_at",
    lastSeen: "p.last_seen_at",
    created: "p.config_created",
    id: "p.id",
  });
  return db.$queryRaw<PageRow[]>`
    SELECT p.id, p.total, p.registry, p.repository, x.digest, x.media_type, x.size, x.platforms, x.os, x.architecture, x.variant,
           x.deleted_at, p.config_created, p.last_seen_at,
           CASE WHEN position(decode('2e626173652e', 'hex') IN x.manifest) > 0 OR position(decode('5c', 'hex') IN x.manifest) > 0 THEN x.manifest END AS base_manifest,
           ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = x.repository_id AND t.digest = x.digest ORDER BY t.name) AS tags,
           sg.sig_total, sg.sig_verified, sg.pub_total, sg.pub_verified, sg.team_total, sg.team_verified,
           (SELECT count(*)::int FROM artifacts a WHERE a.image_id = p.id) AS artifacts,
           ap.pending, sd.stages, sv.severities,
           -- Scanned: a scan or VEX that counts. A withdrawn or not-counted one (a developer's unsigned registry VEX on
           -- a repository under uploader rules) must not turn "no scan recorded" into "0 findings".
           EXISTS (SELECT 1 FROM evidence_documents e WHERE e.image_id = p.id AND e.kind IN ('scan', 'vex') AND e.withdrawn_at IS NULL AND e.not_counted IS NULL) AS has_scan,
           rk.risks, mv.moves
    FROM (
      -- Only the sort keys go through the count and the sort; the page's 50 rows are read again below.
      SELECT i.id, g.name AS registry, r.name AS repository, i.config_created, i.last_seen_at, i.first_seen_at, count(*) OVER () AS total
      FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
      WHERE ${Prisma.join(filters(q), " AND ")}
      ORDER BY ${inner}
      LIMIT ${q.pageSize} OFFSET ${(q.page - 1) * q.pageSize}
    ) p
    JOIN images x ON x.id = p.id
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS sig_total, (count(*) FILTER (WHERE s.verdict = 'verified'))::int AS sig_verified,
             (count(*) FILTER (WHERE s.role = 'publisher'))::int AS pub_total, bool_or(s.verdict = 'verified') FILTER (WHERE s.role = 'publisher') AS pub_verified,
             (count(*) FILTER (WHERE s.role = 'team'))::int AS team_total, bool_or(s.verdict = 'verified') FILTER (WHERE s.role = 'team') AS team_verified
      FROM signatures s WHERE s.image_id = p.id) sg
    CROSS JOIN LATERAL (
      SELECT (count(*) FILTER (WHERE a.status = 'signing'))::int AS pending, min(a.created_at) FILTER (WHERE a.status = 'signed') AS first_signed
      FROM approvals a WHERE a.image_id = p.id) ap
    CROSS JOIN LATERAL (
      SELECT json_agg(json_build_object('stage', st.name, 'state', COALESCE(f.state, d.state, 'not approved'), 'detail', COALESCE(f.detail, d.detail, 'no approval')) ORDER BY st.position) AS stages
      FROM stages st
      LEFT JOIN stage_decisions d ON d.image_id = p.id AND d.stage_id = st.id
      LEFT JOIN LATERAL (SELECT n.state, n.detail FROM stage_decision(d.image_id, d.stage_id) n WHERE d.valid_until <= now()) f ON true) sd
    CROSS JOIN LATERAL (
      SELECT json_agg(json_build_object('severity', x.severity, 'n', x.n) ORDER BY x.severity) AS severities
      FROM (SELECT f.severity, count(DISTINCT f.vuln_id || ':' || f.package || ':' || coalesce(f.installed_version, ''))::int AS n
            FROM findings f WHERE f.image_id = p.id AND ${openFinding} GROUP BY f.severity) x) sv
    CROSS JOIN LATERAL (
      SELECT json_agg(json_build_object('stage', COALESCE(st.name, '?'), 'since', imprimatur_iso(r.since), 'reasons', r.reasons, 'revokeAt', imprimatur_iso(r.revoke_at)) ORDER BY r.since) AS risks
      FROM stage_risks r LEFT JOIN stages st ON st.id = r.stage_id WHERE r.image_id = p.id) rk
    CROSS JOIN LATERAL (
      SELECT json_agg(json_build_object('tag', m.tag, 'from', m.from_digest, 'to', m.to_digest, 'seenAt', imprimatur_iso(m.seen_at),
                                        'away', m.from_digest = x.digest AND m.seen_at > ap.first_signed, 'prior', pr.name) ORDER BY m.seen_at DESC) AS moves
      FROM (SELECT * FROM tag_events m WHERE m.repository_id = x.repository_id AND m.from_digest IS NOT NULL AND (m.from_digest = x.digest OR m.to_digest = x.digest)
            ORDER BY m.seen_at DESC LIMIT 1000) m
      -- The first signed approval of the digest the tag moved away from, before the move (approvals do not follow tags).
      LEFT JOIN LATERAL (
        SELECT st.name FROM images fi JOIN approvals a ON a.image_id = fi.id JOIN stages st ON st.id = a.stage_id
        WHERE m.to_digest = x.digest AND fi.repository_id = m.repository_id AND fi.digest = m.from_digest AND a.status = 'signed' AND a.created_at < m.seen_at
        ORDER BY a.created_at, a.id LIMIT 1) pr ON true) mv
    ORDER BY ${outer}`;
}

type PublisherState = "verified" | "signed" | "unsigned";

/**
 * The publisher state of the base images the page's images name (OCI base annotations), in one query and only when
 * one of them names a base: verified when any inventory copy carries a verified publisher signature, signed when
 * one carries any signature.
 */
async function basePublishers(rows: PageRow[]) {
  const refs = new Map(rows.map((r) => [r.id, baseReference(r.base_manifest)]));
  const digests = [...new Set([...refs.values()].map((b) => b.digest).filter((d): d is string => Boolean(d)))];
  const states = new Map<string, PublisherState>();
  if (digests.length) {
    const found = await db.$queryRaw<{ digest: string; verified: boolean | null; signed: boolean }[]>`
      SELECT i.digest, bool_or(s.verdict = 'verified' AND s.role = 'publisher') AS verified, count(s.id) > 0 AS signed
      FROM images i LEFT JOIN signatures s ON s.image_id = i.id
      WHERE i.digest IN (${Prisma.join(digests)}) AND i.deleted_at IS NULL
      GROUP BY i.digest`;
    for (const b of found) states.set(b.digest, b.verified ? "verified" : b.signed ? "signed" : "unsigned");
  }
  return { refs, states };
}

/** The compact chain for the list: publisher (own or the base image's), team, then each stage. */
function compactChain(row: PageRow, base: ReturnType<typeof baseReference>, basePublisher: Map<string, PublisherState>): ChainLink[] {
  const chain: ChainLink[] = [];
  const ownVerified = Boolean(row.pub_verified);
  const baseState = base.digest ? basePublisher.get(base.digest) : undefined;
  if (ownVerified || baseState === "verified") {
    chain.push({
      label: "publisher",
      mark: "✓",
      detail: ownVerified ? "signed by a trusted publisher" : `base image ${base.name ?? base.digest} carries a verified publisher signature`,
    });
  } else if (row.pub_total || base.digest || base.name) {
    chain.push({
      label: "publisher",
      mark: baseState === "signed" || row.pub_total ? "✗" : "–",
      detail:
        !base.digest && !row.pub_total
          ? `base ${base.name} is named without a digest`
          : baseState === undefined && !row.pub_total
            ? "the base image is not in the inventory"
            : "no verified publisher signature",
    });
  }
  if (row.team_total)
    chain.push({
      label: "team",
      mark: row.team_verified ? "✓" : "✗",
      detail: row.team_verified ? "signed by a trusted team identity" : "the team signature does not verify",
    });
  for (const st of row.stages ?? []) {
    chain.push({
      label: st.stage,
      mark: st.state === "approved" ? "✓" : st.state === "signature pending" ? "…" : st.state === "signed, not verified" ? "✗" : "–",
      detail: st.detail,
    });
  }
  return chain;
}

/**
 * Warnings about tags that moved: away from this digest after it was approved, or onto it from a digest that was
 * approved (approvals do not follow tags).
 */
function tagMoveWarnings(row: PageRow): string[] {
  const warnings: string[] = [];
  for (const m of row.moves ?? []) {
    if (m.away) warnings.push(`tag ${m.tag} moved away from this approved digest on ${m.seenAt}${m.to ? ` (now ${m.to.slice(0, 19)})` : " (deleted)"}`);
    if (m.to === row.digest && m.prior && row.tags.includes(m.tag)) {
      warnings.push(`tag ${m.tag} moved here on ${m.seenAt} from ${m.from.slice(0, 19)}, which was approved for ${m.prior}; approvals do not follow tags`);
    }
  }
  return warnings;
}

function platformNames(row: PageRow): string[] {
  // Display only: what parses is shown (lib/server/json-columns.ts).
  const stored =
    row.platforms === null ? null : (readDisplayJson(imagePlatformsColumn, row.platforms, { table: "images", column: "platforms", id: row.id }).value ?? []);
  const platforms = stored ?? (row.os ? [{ os: row.os, architecture: row.architecture ?? "", variant: row.variant ?? undefined }] : []);
  return platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`);
}

function listItem(row: PageRow, base: ReturnType<typeof baseReference>, basePublisher: Map<string, PublisherState>) {
  const stages = row.stages ?? [];
  const passed = stages.filter((s) => s.state === "approved");
  const severities = new Map((row.severities ?? []).map((s) => [s.severity, s.n]));
  return {
    registry: row.registry,
    repository: row.repository,
    digest: row.digest,
    tags: row.tags,
    mediaType: row.media_type,
    size: row.size,
    platforms: platformNames(row),
    signatures: row.sig_total,
    verifiedSignatures: row.sig_verified,
    artifacts: row.artifacts,
    currentStage: passed.length ? passed[passed.length - 1]!.stage : null,
    stages: stages.map((s) => ({ stage: s.stage, state: s.state })),
    /** publisher ✓ · team ✓ · build ✓ · test ✓ · prod – */
    chain: compactChain(row, base, basePublisher),
    pendingSignatures: row.pending,
    deleted: row.deleted_at?.toISOString() ?? null,
    created: row.config_created?.toISOString() ?? null,
    lastSeenAt: row.last_seen_at.toISOString(),
    warnings: tagMoveWarnings(row),
    /** Approved stages whose gates no longer hold (re-evaluation). */
    atRisk: row.risks ?? [],
    // null when no scan has been recorded, so "no findings" is never claimed without evidence.
    severities: row.has_scan || severities.size ? { critical: 0, high: 0, medium: 0, low: 0, ...Object.fromEntries(severities) } : null,
  };
}

/**
 * Server-side filtered, sorted and paginated list of top-level images (an index counts once): one statement for
 * the page, and one more only when an image on it names a base image.
 */
export async function listImages({ actor: _actor, query }: { actor: Actor; query: ListImagesQuery }) {
  const q = query;
  const rows = await findPage(q);
  const total = rows[0] ? Number(rows[0].total) : 0;
  const { refs, states } = await basePublishers(rows);
  const items = rows.map((row) => listItem(row, refs.get(row.id)!, states));
  return { items, total, page: q.page, pageSize: q.pageSize, pages: Math.max(1, Math.ceil(total / q.pageSize)) };
}

export type ImageListItem = Awaited<ReturnType<typeof listImages>>["items"][number];

import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { matches, parseQuery } from "../../versions/range";
import { purlSearchKeyOf } from "../../evidence/purl";
import type { Actor } from "../actor";

export interface PackageSearchHit {
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
  versions: string[];
  purls: string[];
  highestStage: string | null;
  deleted: boolean;
}

/** Distinct (package, version, purl) rows read for one query; beyond it the answer says `truncated`. */
const MAX_VERSIONS = 100_000;

/**
 * "Which of our images contain this package version?": a package by name or purl plus a version range, plain
 * (`openssl < 3.0.7`) or as a purl `vers:` range. Reads the per-package summary (package_versions: one row per
 * distinct version and purl of the package; package_images: the images whose live evidence has it), so a package
 * in 9,000 images costs a few index pages, not 9,000 component rows. Versions are compared with each ecosystem's
 * own ordering rules, once per distinct version. Withdrawn evidence is not in the summary. Returns every digest
 * with its tags, the versions found and the highest stage it has passed.
 */
export async function searchPackages({
  actor: _actor,
  q,
  includeDeleted = false,
  limit = 500,
}: {
  actor: Actor;
  q: string;
  includeDeleted?: boolean;
  /** Results with full details (tags, stage); `total` always counts every digest. Exports pass Infinity. */
  limit?: number;
}) {
  // Checked here, not only in the route: the search page calls this action directly.
  if (q.length > 500) throw new AppError("INVALID_INPUT", "the query is longer than 500 characters", "q");
  let query;
  try {
    query = parseQuery(q);
  } catch (e) {
    throw new AppError("INVALID_INPUT", (e as Error).message, "q");
  }
  const { ids, truncated } = await matchingVersionIds(query);
  const pageSize = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : null;
  const rows = ids.length ? await readHits({ ids, includeDeleted, pageSize }) : [];
  // The count rides on every page row; an empty page (none found, or limit 0) counts alone.
  const total = rows[0]?.total ?? (ids.length && pageSize === 0 ? await countHits({ ids, includeDeleted }) : 0);
  const results: PackageSearchHit[] = rows.map((r) => ({
    registry: r.registry,
    repository: r.repository,
    digest: r.digest,
    tags: r.tags,
    versions: [...r.versions].sort(),
    purls: [...r.purls].sort(),
    highestStage: r.highest_stage,
    deleted: r.deleted,
  }));
  return {
    query: { text: q, name: query.name, purl: query.purl ?? null, constraints: query.constraints },
    results,
    total,
    truncated,
  };
}

type Query = ReturnType<typeof parseQuery>;

/**
 * The package_versions rows of the package whose version satisfies the query's range. A package has few distinct
 * versions across thousands of images: each (ecosystem, version) is compared once.
 */
async function matchingVersionIds(query: Query): Promise<{ ids: string[]; truncated: boolean }> {
  // The same normalisation as the ingest's (pkg:alpine/x is pkg:apk/alpine/x, per-type case rules).
  const key = query.purl && query.purlType
    ? Prisma.sql`purl_key = ${purlSearchKeyOf(query.purlType, query.namespace, query.name)}`
    : Prisma.sql`name_key = ${query.name.toLowerCase()}`;
  const versions = await db.$queryRaw<{ id: string; ecosystem: string; version: string }[]>`
    SELECT id::text AS id, ecosystem, version FROM package_versions WHERE ${key} LIMIT ${MAX_VERSIONS}`;
  const verdicts = new Map<string, boolean>();
  const ids: string[] = [];
  for (const r of versions) {
    if (query.constraints) {
      if (!r.version) continue;
      const eco = r.ecosystem || query.ecosystem || "generic";
      const k = `${eco}\u0000${r.version}`;
      let v = verdicts.get(k);
      if (v === undefined) {
        v = matches(eco, r.version, query.constraints);
        verdicts.set(k, v);
      }
      if (!v) continue;
    }
    ids.push(r.id);
  }
  return { ids, truncated: versions.length >= MAX_VERSIONS };
}

type HitRow = { total: number; id: string; registry: string; repository: string; digest: string; deleted: boolean; versions: string[]; purls: string[]; tags: string[]; highest_stage: string | null };

/** The images holding one of the versions: each once (a hash of package_images' index-only scan). */
const hitImages = (ids: string[], includeDeleted: boolean) => Prisma.sql`
  SELECT i.id, i.repository_id, i.digest, i.deleted_at IS NOT NULL AS deleted FROM images i
  WHERE i.id IN (SELECT image_id FROM package_images WHERE package_version_id = ANY(${ids}::bigint[]))
  ${includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`}`;

/**
 * One statement: the hits in code-point order of registry / repository / digest (COLLATE "C", whatever the database
 * locale), the count of them all on every row, and the details of the page only: the versions and purls found (an
 * index-only probe of package_images by image), the tags, and the highest stage passed as the decisions computed
 * ahead say (as everywhere: a signed, unrevoked, unexpired approval whose layer verified in the registry;
 * stage_decision() in SQL).
 */
async function readHits({ ids, includeDeleted, pageSize }: { ids: string[]; includeDeleted: boolean; pageSize: number | null }): Promise<HitRow[]> {
  return db.$queryRaw<HitRow[]>`
    WITH page AS (
      SELECT h.*, g.name AS registry, r.name AS repository, count(*) OVER () AS total
      FROM (${hitImages(ids, includeDeleted)}) h JOIN repositories r ON r.id = h.repository_id JOIN registries g ON g.id = r.registry_id
      ORDER BY g.name COLLATE "C", r.name COLLATE "C", h.digest COLLATE "C" LIMIT ${pageSize})
    SELECT p.total::int AS total, p.id, p.registry, p.repository, p.digest, p.deleted,
           coalesce(v.versions, '{}') AS versions, coalesce(v.purls, '{}') AS purls,
           ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = p.repository_id AND t.digest = p.digest ORDER BY t.name) AS tags,
           (SELECT st.name FROM stage_decisions d
              JOIN stages st ON st.id = d.stage_id
             WHERE d.image_id = p.id AND d.allowed
               AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n))
             ORDER BY st.position DESC LIMIT 1) AS highest_stage
    FROM page p
    LEFT JOIN LATERAL (
      SELECT array_agg(DISTINCT pv.version) FILTER (WHERE pv.version <> '') AS versions, array_agg(DISTINCT pv.purl) FILTER (WHERE pv.purl <> '') AS purls
      FROM package_images pi JOIN package_versions pv ON pv.id = pi.package_version_id
      WHERE pi.image_id = p.id AND pi.package_version_id = ANY(${ids}::bigint[])) v ON true
    ORDER BY p.registry COLLATE "C", p.repository COLLATE "C", p.digest COLLATE "C"`;
}

async function countHits({ ids, includeDeleted }: { ids: string[]; includeDeleted: boolean }): Promise<number> {
  const r = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM (${hitImages(ids, includeDeleted)}) h`;
  return r[0]?.n ?? 0;
}

/** A CSV cell, quoted, with spreadsheet formulas neutralised (cells starting with = + - @ get a leading '). */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function searchResultsCsv(results: PackageSearchHit[]): string {
  const header = ["registry", "repository", "digest", "tags", "versions", "purls", "highest_stage", "deleted"];
  const lines = results.map((r) => [r.registry, r.repository, r.digest, r.tags.join(" "), r.versions.join(" "), r.purls.join(" "), r.highestStage ?? "", String(r.deleted)].map(csvCell).join(","));
  return [header.join(","), ...lines].join("\r\n") + "\r\n";
}

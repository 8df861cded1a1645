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
  const { ids, byId, pairs, fleet, truncated } = await matchingVersions(query);
  const pageSize = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : null;
  const probe = probeFor(pairs, fleet);
  const rows = ids.length ? await readHits({ ids, includeDeleted, pageSize, probe }) : [];
  // The count rides on every page row; an empty page (none found, or limit 0) counts alone.
  const total = rows[0]?.total ?? (ids.length && pageSize === 0 ? await countHits({ ids, includeDeleted, probe }) : 0);
  // The versions and purls found in each image: its matching package_versions rows, read once in the first statement.
  const found = (pvs: string[], col: "version" | "purl") => [...new Set(pvs.map((id) => byId.get(id)?.[col] ?? ""))].filter(Boolean).sort();
  const results: PackageSearchHit[] = rows.map((r) => ({
    registry: r.registry,
    repository: r.repository,
    digest: r.digest,
    tags: r.tags,
    versions: found(r.pvs, "version"),
    purls: found(r.pvs, "purl"),
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
async function matchingVersions(
  query: Query,
): Promise<{ ids: string[]; byId: Map<string, { version: string; purl: string }>; pairs: number; fleet: number; truncated: boolean }> {
  // The same normalisation as the ingest's (pkg:alpine/x is pkg:apk/alpine/x, per-type case rules).
  const key =
    query.purl && query.purlType
      ? Prisma.sql`purl_key = ${purlSearchKeyOf(query.purlType, query.namespace, query.name)}`
      : Prisma.sql`name_key = ${query.name.toLowerCase()}`;
  // With each version, how many images have it (index-only) and the planner's own count of images: the row counts
  // the statement shape is chosen on (the planner's per-value estimate for package_images is far off for rare ones).
  const versions = await db.$queryRaw<{ id: string; ecosystem: string; version: string; purl: string; images: number; fleet: number }[]>`
    SELECT pv.id::text AS id, pv.ecosystem, pv.version, pv.purl,
           (SELECT count(*) FROM package_images pi WHERE pi.package_version_id = pv.id)::int AS images,
           (SELECT reltuples FROM pg_class WHERE oid = 'images'::regclass)::float8 AS fleet
    FROM package_versions pv WHERE ${key} LIMIT ${MAX_VERSIONS}`;
  const byId = new Map<string, { version: string; purl: string }>();
  const verdicts = new Map<string, boolean>();
  const ids: string[] = [];
  let pairs = 0;
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
    byId.set(r.id, r);
    pairs += r.images;
  }
  return { ids, byId, pairs, fleet: versions[0]?.fleet ?? 0, truncated: versions.length >= MAX_VERSIONS };
}

type HitRow = {
  total: number;
  id: string;
  registry: string;
  repository: string;
  digest: string;
  deleted: boolean;
  pvs: string[];
  tags: string[];
  highest_stage: string | null;
};

/**
 * The images holding one of the versions, each once (package_images, index-only), with the columns the order and
 * the page need (images_search_idx covers them: index-only). Narrow rows: the matching version ids are read for the
 * shown page only, not carried through the count and the sort of every hit. `probe`: few hits for the fleet, each
 * image looked up by its key (OFFSET 0 keeps the lookup a nested loop); else one join over the images, as the
 * planner picks.
 */
const hitImages = (ids: string[], includeDeleted: boolean, probe: boolean) => {
  const live = includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`;
  const h = Prisma.sql`(SELECT DISTINCT image_id FROM package_images WHERE package_version_id = ANY(${ids}::bigint[])) h`;
  const cols = Prisma.sql`i.id, i.repository_id, i.digest, i.deleted_at IS NOT NULL AS deleted`;
  return probe
    ? Prisma.sql`SELECT x.* FROM ${h} CROSS JOIN LATERAL (SELECT ${cols} FROM images i WHERE i.id = h.image_id ${live} OFFSET 0) x`
    : Prisma.sql`SELECT ${cols} FROM ${h} JOIN images i ON i.id = h.image_id WHERE true ${live}`;
};

/** A nested loop of key lookups beats one pass over the images below about one hit in 20 images. */
const probeFor = (pairs: number, fleet: number) => pairs * 20 < fleet;

/**
 * How the hits are put in code-point order of registry / repository / digest (COLLATE "C", whatever the database
 * locale). Few hits (probe): each joined to its repository and registry names. Many: the repositories are ranked
 * once by those names (dense_rank: equal names, equal rank, so the digest decides as it would), and thousands of
 * hits are sorted on (rank, digest) instead of carrying and comparing three strings each.
 */
const hitOrder = (probe: boolean) =>
  probe
    ? {
        ranks: Prisma.empty,
        join: Prisma.sql`JOIN repositories r ON r.id = h.repository_id JOIN registries g ON g.id = r.registry_id`,
        key: Prisma.sql`g.name COLLATE "C", r.name COLLATE "C", h.digest COLLATE "C"`,
      }
    : {
        ranks: Prisma.sql`rk AS (SELECT r.id, dense_rank() OVER (ORDER BY g.name COLLATE "C", r.name COLLATE "C") AS k
                                 FROM repositories r JOIN registries g ON g.id = r.registry_id),`,
        join: Prisma.sql`JOIN rk ON rk.id = h.repository_id`,
        key: Prisma.sql`rk.k, h.digest COLLATE "C"`,
      };

/**
 * One statement: the hits in code-point order of registry / repository / digest, the count of them all on every
 * row, and the details of the page only: its matching version ids, the tags and the highest stage passed as the
 * decisions computed ahead say (as everywhere: a signed, unrevoked, unexpired approval whose layer verified in the
 * registry; stage_decision() in SQL).
 */
async function readHits({
  ids,
  includeDeleted,
  pageSize,
  probe,
}: {
  ids: string[];
  includeDeleted: boolean;
  pageSize: number | null;
  probe: boolean;
}): Promise<HitRow[]> {
  const order = hitOrder(probe);
  return db.$queryRaw<HitRow[]>`
    WITH ${order.ranks}
    page AS (
      SELECT h.*, count(*) OVER () AS total FROM (${hitImages(ids, includeDeleted, probe)}) h ${order.join}
      ORDER BY ${order.key} LIMIT ${pageSize}),
    pv AS (
      SELECT pi.image_id, array_agg(pi.package_version_id::text) AS pvs FROM package_images pi
      WHERE pi.package_version_id = ANY(${ids}::bigint[]) AND pi.image_id IN (SELECT id FROM page) GROUP BY pi.image_id)
    SELECT p.total::int AS total, p.id, g.name AS registry, r.name AS repository, p.digest, p.deleted, coalesce(pv.pvs, '{}') AS pvs,
           ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = p.repository_id AND t.digest = p.digest ORDER BY t.name) AS tags,
           (SELECT st.name FROM stage_decisions d
              JOIN stages st ON st.id = d.stage_id
             WHERE d.image_id = p.id AND d.allowed
               AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n))
             ORDER BY st.position DESC LIMIT 1) AS highest_stage
    FROM page p JOIN repositories r ON r.id = p.repository_id JOIN registries g ON g.id = r.registry_id LEFT JOIN pv ON pv.image_id = p.id
    ORDER BY g.name COLLATE "C", r.name COLLATE "C", p.digest COLLATE "C"`;
}

async function countHits({ ids, includeDeleted, probe }: { ids: string[]; includeDeleted: boolean; probe: boolean }): Promise<number> {
  const r = await db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM (${hitImages(ids, includeDeleted, probe)}) h`;
  return r[0]?.n ?? 0;
}

/** A CSV cell, quoted, with spreadsheet formulas neutralised (cells starting with = + - @ get a leading '). */
export function csvCell(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function searchResultsCsv(results: PackageSearchHit[]): string {
  const header = ["registry", "repository", "digest", "tags", "versions", "purls", "highest_stage", "deleted"];
  const lines = results.map((r) =>
    [r.registry, r.repository, r.digest, r.tags.join(" "), r.versions.join(" "), r.purls.join(" "), r.highestStage ?? "", String(r.deleted)]
      .map(csvCell)
      .join(","),
  );
  return [header.join(","), ...lines].join("\r\n") + "\r\n";
}

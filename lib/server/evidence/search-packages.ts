import "server-only";
import { formulaSafe } from "../../report-format";
import { pgPool, Prisma } from "../../db";
import { AppError } from "../../errors";
import { matches, parseQuery } from "../../versions/range";
import { purlSearchKeyOf } from "../../evidence/purl";
import { PACKAGE_KEY_OF_C } from "./package-index";
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
  /**
   * Found only in evidence that does not count (unsigned registry evidence on a repository under evidence-uploader
   * rules): shown, and a bulk revocation fed by the search may include it (revoking more is safe), but nothing
   * trusted says the image has the package.
   */
  notCounted: boolean;
}

/** Distinct (package, version, purl) rows read for one query; beyond it the answer says `truncated`. */
const MAX_VERSIONS = 100_000;

/**
 * "Which of our images contain this package version?": a package by name or purl plus a version range, plain
 * (`openssl < 3.0.7`) or as a purl `vers:` range. Reads the per-package summary (package_versions: one row per
 * distinct version and purl of the package; package_images: the images whose live evidence has it), so a package
 * in 9,000 images costs a few index pages, not 9,000 component rows. Versions are compared with each ecosystem's
 * own ordering rules, once per distinct version. Withdrawn evidence is not in the summary. Returns every digest
 * with its tags, the versions found and the highest stage it has passed, marked when found only in evidence that
 * does not count (notCounted).
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
  const shape = shapeFor(pairs, fleet, pageSize);
  const rows = ids.length ? await readHits({ ids, includeDeleted, pageSize, shape }) : [];
  // The count rides on every page row; an empty page (none found, or limit 0) counts alone.
  const total = rows[0]?.total ?? (ids.length && pageSize === 0 ? await countHits({ ids, includeDeleted, shape }) : 0);
  const found = foundIn(byId);
  const results: PackageSearchHit[] = rows.map((r) => {
    const f = found(r.pvs);
    return {
      registry: r.registry,
      repository: r.repository,
      digest: r.digest,
      tags: r.tags,
      versions: f.versions.slice(),
      purls: f.purls.slice(),
      highestStage: r.highest_stage,
      deleted: r.deleted,
      notCounted: r.not_counted_only,
    };
  });
  return {
    query: { text: q, name: query.name, purl: query.purl ?? null, constraints: query.constraints },
    results,
    total,
    truncated,
  };
}

type Query = ReturnType<typeof parseQuery>;

/**
 * The versions and purls found in an image: its matching package_versions rows, read once in the first statement.
 * Most images of a page share a few sets of version ids: each distinct set is resolved and sorted once per call.
 */
function foundIn(byId: Map<string, { version: string; purl: string }>) {
  const memo = new Map<string, { versions: string[]; purls: string[] }>();
  const pick = (pvs: string[], col: "version" | "purl") => [...new Set(pvs.map((id) => byId.get(id)?.[col] ?? ""))].filter(Boolean).sort();
  return (pvs: string[]) => {
    const key = pvs.join(",");
    let f = memo.get(key);
    if (!f) {
      f = { versions: pick(pvs, "version"), purls: pick(pvs, "purl") };
      memo.set(key, f);
    }
    return f;
  };
}

/**
 * One read-only statement (a Prisma.sql template: parameters bound as $1…, never string-built) on the pool behind
 * `db`, without Prisma's raw-query path: Prisma serialises the parameters to JSON, runs its query compiler and
 * converts every cell of up to 500 result rows, which cost the search more CPU than reading them (issue 17). The
 * columns are text, int4, float8, bool and text[] only, which pg's own parsers return as the same JS values.
 * `name`: a prepared statement per connection (as the admission lookups), so Postgres plans each statement shape
 * once per connection instead of on every search (planning was a third of a search's database time). Each name
 * stands for one text: it is derived from exactly the choices that build the text.
 */
async function rows<T>(name: string, sql: Prisma.Sql): Promise<T[]> {
  return (await pgPool().query({ name, text: sql.text, values: sql.values as unknown[] })).rows as T[];
}

/**
 * The package_versions rows of the package whose version satisfies the query's range. A package has few distinct
 * versions across thousands of images: each (ecosystem, version) is compared once.
 */
async function matchingVersions(
  query: Query,
): Promise<{ ids: string[]; byId: Map<string, { version: string; purl: string }>; pairs: number; fleet: number; truncated: boolean }> {
  // The same normalisation as the ingest's (pkg:alpine/x is pkg:apk/alpine/x, per-type case rules).
  const purlKey = query.purl && query.purlType ? purlSearchKeyOf(query.purlType, query.namespace, query.name) : null;
  const key = purlKey !== null ? Prisma.sql`purl_key = ${purlKey}` : Prisma.sql`name_key = ${query.name.toLowerCase()}`;
  // With each version, how many images have it (index-only) and the planner's own count of images: the row counts
  // the statement shape is chosen on (the planner's per-value estimate for package_images is far off for rare ones).
  // Only versions some image still has (package_versions rows outlive withdrawn evidence), and with a range only
  // versions that can satisfy one (not empty: versionless components match none), in id order, so a search past
  // the limit reads the same versions each time; one more row than the limit says whether it was reached.
  const versions = await rows<{ id: string; ecosystem: string; version: string; purl: string; images: number; fleet: number }>(
    `imprimatur_search_versions_${purlKey !== null ? "purl" : "name"}${query.constraints ? "_range" : ""}`,
    Prisma.sql`
    SELECT pv.id::text AS id, pv.ecosystem, pv.version, pv.purl,
           (SELECT count(*) FROM package_images pi WHERE pi.package_version_id = pv.id)::int AS images,
           (SELECT reltuples FROM pg_class WHERE oid = 'images'::regclass)::float8 AS fleet
    FROM package_versions pv
    WHERE ${key} ${query.constraints ? Prisma.sql`AND pv.version <> ''` : Prisma.empty}
      AND EXISTS (SELECT 1 FROM package_images pi WHERE pi.package_version_id = pv.id)
    ORDER BY pv.id LIMIT ${MAX_VERSIONS + 1}`,
  );
  const truncated = versions.length > MAX_VERSIONS;
  if (truncated) versions.length = MAX_VERSIONS;
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
  return { ids, byId, pairs, fleet: versions[0]?.fleet ?? 0, truncated };
}

type HitRow = {
  total: number;
  registry: string;
  repository: string;
  digest: string;
  deleted: boolean;
  pvs: string[];
  tags: string[];
  highest_stage: string | null;
  not_counted_only: boolean;
};

/**
 * How the page of hits is found, from the hits' pair count (an upper bound of the images: index-only count per
 * version) against the planner's count of images (pg_class.reltuples, -1 when never analysed):
 * - `probe`: few hits for the fleet, each image looked up by its key (a nested loop), then sorted by names;
 * - `walk`: dense hits and a page to show: the repositories in name order, their images in digest order (index-only),
 *   each checked against the hashed hits, stopping at the page's end. A package in most images costs the walk over
 *   about a page of images, not a lookup and a sort key for every hit. Chosen only when the hits are at least one
 *   image in 6, so even hits that all sit at the end of the order cost at most 6 index entries per hit (each far
 *   cheaper than a key lookup), and when the expected walk (page × fleet / hits) is shorter than 5 × the hits;
 *   Not beyond WALK_MAX_PAIRS: the check is a hash of the hits only while the planner expects it to fit in work_mem
 *   (else it would scan the hits once per image walked);
 * - `pass`: otherwise (the whole list, a mid-sized answer, an unknown fleet size): one join over the images, as the
 *   planner picks, sorted on a repository rank.
 */
type Shape = "probe" | "walk" | "pass";
/** About 100,000 uuids hash in a few MB, well inside the default work_mem × hash_mem_multiplier (8 MB). */
const WALK_MAX_PAIRS = 100_000;
const shapeFor = (pairs: number, fleet: number, pageSize: number | null): Shape => {
  // A nested loop of key lookups beats one pass over the images below about one hit in 20 images.
  if (pairs * 20 < fleet) return "probe";
  const dense = pairs * 6 >= fleet && pairs <= WALK_MAX_PAIRS;
  if (fleet > 0 && pageSize !== null && pageSize > 0 && dense && pageSize * fleet < 5 * pairs * pairs) return "walk";
  return "pass";
};

/** The image ids holding one of the versions, each once (package_images, index-only). */
const hitIds = (ids: string[]) => Prisma.sql`SELECT DISTINCT image_id FROM package_images WHERE package_version_id = ANY(${ids}::bigint[])`;

/**
 * The images holding one of the versions, each once, with the columns the order and the page need
 * (images_search_idx covers them: index-only). Narrow rows: the matching version ids are read for the shown page
 * only, not carried through the count and the sort of every hit. `probe`: each image looked up by its key (OFFSET 0
 * keeps the lookup a nested loop); else one join over the images, as the planner picks.
 */
const hitImages = (ids: string[], includeDeleted: boolean, probe: boolean) => {
  const live = includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`;
  const h = Prisma.sql`(${hitIds(ids)}) h`;
  const cols = Prisma.sql`i.id, i.repository_id, i.digest, i.deleted_at IS NOT NULL AS deleted`;
  return probe
    ? Prisma.sql`SELECT x.* FROM ${h} CROSS JOIN LATERAL (SELECT ${cols} FROM images i WHERE i.id = h.image_id ${live} OFFSET 0) x`
    : Prisma.sql`SELECT ${cols} FROM ${h} JOIN images i ON i.id = h.image_id WHERE true ${live}`;
};

/**
 * The `page` CTE (and the CTEs it reads): the first `pageSize` hits in code-point order of registry / repository /
 * digest (COLLATE "C", whatever the database locale), each with its registry and repository names and the count of
 * all hits.
 * - probe: each hit joined to its repository and registry names, sorted;
 * - pass: the repositories ranked once by those names (dense_rank: equal names, equal rank, so the digest decides as
 *   it would), and the hits sorted on (rank, digest) instead of carrying and comparing three strings each;
 * - walk: see Shape. The hits are materialised once: hashed for the walk's check, counted, and the deleted ones among
 *   them found through the partial index of deleted images (few) rather than a lookup per hit.
 */
function pageCte({ ids, includeDeleted, pageSize, shape }: { ids: string[]; includeDeleted: boolean; pageSize: number | null; shape: Shape }) {
  if (shape === "walk") {
    const live = includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`;
    const deleted = includeDeleted
      ? Prisma.empty
      : Prisma.sql`- (SELECT count(*) FROM images d WHERE d.deleted_at IS NOT NULL AND d.id IN (SELECT image_id FROM hit))`;
    // `IN (…) IS TRUE`: a hashed subplan probed per image of the walk, not a semi-join the planner could turn into a
    // hash of every image. OFFSET 0 keeps the per-repository scan a nested loop in the repositories' name order.
    return Prisma.sql`
      hit AS MATERIALIZED (${hitIds(ids)}),
      page AS (
        SELECT x.*, rk.registry, rk.repository, (SELECT count(*) FROM hit) ${deleted} AS total
        FROM (SELECT r.id, g.name AS registry, r.name AS repository FROM repositories r JOIN registries g ON g.id = r.registry_id
              ORDER BY g.name COLLATE "C", r.name COLLATE "C") rk
        CROSS JOIN LATERAL (
          SELECT i.id, i.repository_id, i.digest, i.deleted_at IS NOT NULL AS deleted FROM images i
          WHERE i.repository_id = rk.id ${live} AND (i.id IN (SELECT image_id FROM hit)) IS TRUE OFFSET 0) x
        ORDER BY rk.registry COLLATE "C", rk.repository COLLATE "C", x.digest COLLATE "C" LIMIT ${pageSize})`;
  }
  const hits = hitImages(ids, includeDeleted, shape === "probe");
  if (shape === "probe") {
    return Prisma.sql`
      page AS (
        SELECT h.*, g.name AS registry, r.name AS repository, count(*) OVER () AS total FROM (${hits}) h
        JOIN repositories r ON r.id = h.repository_id JOIN registries g ON g.id = r.registry_id
        ORDER BY g.name COLLATE "C", r.name COLLATE "C", h.digest COLLATE "C" LIMIT ${pageSize})`;
  }
  return Prisma.sql`
    rk AS (SELECT r.id, dense_rank() OVER (ORDER BY g.name COLLATE "C", r.name COLLATE "C") AS k
           FROM repositories r JOIN registries g ON g.id = r.registry_id),
    page AS (
      SELECT h.*, g.name AS registry, r.name AS repository
      FROM (SELECT h.*, count(*) OVER () AS total FROM (${hits}) h JOIN rk ON rk.id = h.repository_id
            ORDER BY rk.k, h.digest COLLATE "C" LIMIT ${pageSize}) h
      JOIN repositories r ON r.id = h.repository_id JOIN registries g ON g.id = r.registry_id)`;
}

/**
 * One statement: the hits in code-point order of registry / repository / digest, the count of them all on every
 * row, and the details of the page only: its matching version ids, the tags and the highest stage passed as the
 * decisions computed ahead say (as everywhere: a signed, unrevoked, unexpired approval whose layer verified in the
 * registry; stage_decision() in SQL).
 */
async function readHits(opts: { ids: string[]; includeDeleted: boolean; pageSize: number | null; shape: Shape }): Promise<HitRow[]> {
  const { ids } = opts;
  return rows<HitRow>(
    `imprimatur_search_hits_${opts.shape}${opts.includeDeleted ? "_all" : ""}`,
    Prisma.sql`
    WITH ${pageCte(opts)},
    pv AS (
      SELECT pi.image_id, array_agg(pi.package_version_id::text) AS pvs FROM package_images pi
      WHERE pi.package_version_id = ANY(${ids}::bigint[]) AND pi.image_id IN (SELECT id FROM page) GROUP BY pi.image_id)
    SELECT p.total::int AS total, p.registry, p.repository, p.digest, p.deleted, coalesce(pv.pvs, '{}') AS pvs,
           ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = p.repository_id AND t.digest = p.digest ORDER BY t.name) AS tags,
           (SELECT st.name FROM stage_decisions d
              JOIN stages st ON st.id = d.stage_id
             WHERE d.image_id = p.id AND d.allowed
               AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n))
             ORDER BY st.position DESC LIMIT 1) AS highest_stage,
           ${notCountedOnly(ids)} AS not_counted_only
    FROM page p LEFT JOIN pv ON pv.image_id = p.id
    ORDER BY p.registry COLLATE "C", p.repository COLLATE "C", p.digest COLLATE "C"`,
  );
}

/**
 * Whether page image `p` has the matching versions only from not-counted documents. Asked of the page's images only,
 * and in two steps: an image with no live not-counted document (nearly all) costs one probe of the partial index
 * evidence_documents_not_counted_image_idx, which holds only not-counted documents; only an image with one looks
 * for a matching component in a document that counts.
 */
const notCountedOnly = (ids: string[]) => Prisma.sql`
  CASE WHEN EXISTS (SELECT 1 FROM evidence_documents nd WHERE nd.image_id = p.id AND nd.not_counted IS NOT NULL AND nd.withdrawn_at IS NULL)
    THEN NOT EXISTS (
      SELECT 1 FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL AND d.not_counted IS NULL
      JOIN package_versions pv ON pv.key_hash = ${Prisma.raw(PACKAGE_KEY_OF_C)}
      WHERE c.image_id = p.id AND pv.id = ANY(${ids}::bigint[]))
    ELSE false END`;

async function countHits({ ids, includeDeleted, shape }: { ids: string[]; includeDeleted: boolean; shape: Shape }): Promise<number> {
  const probe = shape === "probe";
  const r = await rows<{ n: number }>(
    `imprimatur_search_count_${probe ? "probe" : "pass"}${includeDeleted ? "_all" : ""}`,
    Prisma.sql`SELECT count(*)::int AS n FROM (${hitImages(ids, includeDeleted, probe)}) h`,
  );
  return r[0]?.n ?? 0;
}

/** A CSV cell, always quoted, with spreadsheet formulas neutralised (formulaSafe). */
export function csvCell(v: string): string {
  return `"${formulaSafe(v).replace(/"/g, '""')}"`;
}

export function searchResultsCsv(results: PackageSearchHit[]): string {
  const header = ["registry", "repository", "digest", "tags", "versions", "purls", "highest_stage", "deleted", "not_counted"];
  const lines = results.map((r) =>
    [
      r.registry,
      r.repository,
      r.digest,
      r.tags.join(" "),
      r.versions.join(" "),
      r.purls.join(" "),
      r.highestStage ?? "",
      String(r.deleted),
      String(r.notCounted),
    ]
      .map(csvCell)
      .join(","),
  );
  return [header.join(","), ...lines].join("\r\n") + "\r\n";
}

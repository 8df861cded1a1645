import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { matches, parseQuery } from "../../versions/range";
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

const MAX_ROWS = 200_000;

/**
 * "Which of our images contain this package version?": a package by name or purl plus a version range, plain
 * (`openssl < 3.0.7`) or as a purl `vers:` range. The index narrows by name/purl; versions are compared with
 * each ecosystem's own ordering rules. Returns every digest with its tags, the versions found and the highest
 * stage it has passed.
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
  const key = query.purl
    ? Prisma.sql`c.purl_key = ${query.purl.toLowerCase()}`
    : Prisma.sql`c.name_key = ${query.name.toLowerCase()}`;
  // Components alone (an index-only scan on the covering index); deleted images are dropped with the details.
  const rows = await db.$queryRaw<{ image_id: string; version: string | null; ecosystem: string | null; purl: string | null }[]>`
    SELECT DISTINCT c.image_id, c.version, c.ecosystem, c.purl FROM components c WHERE ${key} LIMIT ${MAX_ROWS}`;
  const hits = new Map<string, { versions: Set<string>; purls: Set<string> }>();
  // A package has few distinct versions across thousands of rows: compare each (ecosystem, version) once.
  const verdicts = new Map<string, boolean>();
  const inRange = (eco: string, version: string) => {
    const k = `${eco}\u0000${version}`;
    let v = verdicts.get(k);
    if (v === undefined) {
      v = matches(eco, version, query.constraints);
      verdicts.set(k, v);
    }
    return v;
  };
  for (const r of rows) {
    const eco = r.ecosystem ?? query.ecosystem ?? "generic";
    if (query.constraints && (!r.version || !inRange(eco, r.version))) continue;
    const h = hits.get(r.image_id) ?? { versions: new Set(), purls: new Set() };
    if (r.version) h.versions.add(r.version);
    if (r.purl) h.purls.add(r.purl);
    hits.set(r.image_id, h);
  }
  const ids = [...hits.keys()];
  // Sort keys of every hit (cheap), so the page shown is the first in registry / repository / digest order and
  // `total` counts them all; tags and the highest stage are then read for the page only.
  const keys: { id: string; registry: string; repository: string; digest: string; deleted: boolean }[] = [];
  for (let i = 0; i < ids.length; i += 10_000) {
    const chunk = ids.slice(i, i + 10_000);
    keys.push(...(await db.$queryRaw<{ id: string; registry: string; repository: string; digest: string; deleted: boolean }[]>`
      SELECT i.id, g.name AS registry, r.name AS repository, i.digest, i.deleted_at IS NOT NULL AS deleted
      FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
      WHERE i.id = ANY(${chunk}::uuid[]) ${includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`}`));
  }
  keys.sort((x, y) => (x.registry < y.registry ? -1 : x.registry > y.registry ? 1 : x.repository < y.repository ? -1 : x.repository > y.repository ? 1 : x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0));
  const page = keys.slice(0, Math.max(0, limit));
  // Tags pointing at each digest, and the highest stage passed, as the decisions computed ahead say (as everywhere:
  // a signed, unrevoked, unexpired approval whose layer verified in the registry; stage_decision() in SQL).
  const extra = new Map<string, { tags: string[]; highest_stage: string | null }>();
  for (let i = 0; i < page.length; i += 5000) {
    const chunk = page.slice(i, i + 5000).map((k) => k.id);
    const rows = await db.$queryRaw<{ id: string; tags: string[]; highest_stage: string | null }[]>`
      SELECT i.id,
             ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = i.repository_id AND t.digest = i.digest ORDER BY t.name) AS tags,
             (SELECT st.name FROM stage_decisions d
                JOIN stages st ON st.id = d.stage_id
               WHERE d.image_id = i.id AND d.allowed
                 AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n))
               ORDER BY st.position DESC LIMIT 1) AS highest_stage
      FROM images i WHERE i.id = ANY(${chunk}::uuid[])`;
    for (const r of rows) extra.set(r.id, r);
  }
  const results: PackageSearchHit[] = page.map((k) => {
    const h = hits.get(k.id)!;
    const x = extra.get(k.id);
    return {
      registry: k.registry,
      repository: k.repository,
      digest: k.digest,
      tags: x?.tags ?? [],
      versions: [...h.versions].sort(),
      purls: [...h.purls].sort(),
      highestStage: x?.highest_stage ?? null,
      deleted: k.deleted,
    };
  });
  return {
    query: { text: q, name: query.name, purl: query.purl ?? null, constraints: query.constraints },
    results,
    total: keys.length,
    truncated: rows.length >= MAX_ROWS,
  };
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

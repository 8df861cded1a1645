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
export async function searchPackages({ actor: _actor, q, includeDeleted = false }: { actor: Actor; q: string; includeDeleted?: boolean }) {
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
  // One statement for the details of every hit: tags pointing at the digest, and the highest stage passed,
  // which (as everywhere) needs a signed approval whose layer verified in the registry.
  const rowsById = new Map<string, { registry: string; repository: string; digest: string; deleted: boolean; tags: string[]; highest_stage: string | null }>();
  for (let i = 0; i < ids.length; i += 5000) {
    const chunk = ids.slice(i, i + 5000);
    const details = await db.$queryRaw<{ id: string; registry: string; repository: string; digest: string; deleted: boolean; tags: string[]; highest_stage: string | null }[]>`
      SELECT i.id, g.name AS registry, r.name AS repository, i.digest, i.deleted_at IS NOT NULL AS deleted,
             ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = i.repository_id AND t.digest = i.digest ORDER BY t.name) AS tags,
             (SELECT st.name FROM approvals a
                JOIN stages st ON st.id = a.stage_id
                JOIN signatures s ON s.image_id = a.image_id AND s.layer_digest = a.layer_digest AND s.verdict = 'verified'
               WHERE a.image_id = i.id AND a.status = 'signed'
               ORDER BY st.position DESC LIMIT 1) AS highest_stage
      FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
      WHERE i.id = ANY(${chunk}::uuid[]) ${includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`}`;
    for (const d of details) rowsById.set(d.id, d);
  }
  const results: PackageSearchHit[] = ids.flatMap((id) => {
    const d = rowsById.get(id);
    const h = hits.get(id)!;
    if (!d) return [];
    return [{
      registry: d.registry,
      repository: d.repository,
      digest: d.digest,
      tags: d.tags,
      versions: [...h.versions].sort(),
      purls: [...h.purls].sort(),
      highestStage: d.highest_stage,
      deleted: d.deleted,
    }];
  });
  results.sort((a, b) => a.registry.localeCompare(b.registry) || a.repository.localeCompare(b.repository) || a.digest.localeCompare(b.digest));
  return { query: { text: q, name: query.name, purl: query.purl ?? null, constraints: query.constraints }, results, truncated: rows.length >= MAX_ROWS };
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

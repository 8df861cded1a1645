import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { matches, parseQuery } from "../../versions/range";
import type { Actor } from "../actor";
import { stageStatuses } from "../images/stage-status";

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
  const rows = await db.$queryRaw<{ image_id: string; version: string | null; ecosystem: string | null; purl: string | null }[]>`
    SELECT DISTINCT c.image_id, c.version, c.ecosystem, c.purl
    FROM components c JOIN images i ON i.id = c.image_id
    WHERE ${key} ${includeDeleted ? Prisma.empty : Prisma.sql`AND i.deleted_at IS NULL`}
    LIMIT ${MAX_ROWS}`;
  const hits = new Map<string, { versions: Set<string>; purls: Set<string> }>();
  for (const r of rows) {
    const eco = r.ecosystem ?? query.ecosystem ?? "generic";
    if (query.constraints && (!r.version || !matches(eco, r.version, query.constraints))) continue;
    const h = hits.get(r.image_id) ?? { versions: new Set(), purls: new Set() };
    if (r.version) h.versions.add(r.version);
    if (r.purl) h.purls.add(r.purl);
    hits.set(r.image_id, h);
  }
  const ids = [...hits.keys()];
  const [stages, images] = await Promise.all([
    db.stage.findMany({ orderBy: { position: "asc" } }),
    db.image.findMany({
      where: { id: { in: ids } },
      include: {
        repository: { include: { registry: { select: { name: true } }, tags: true } },
        signatures: { select: { layerDigest: true, verdict: true, keyName: true } },
        approvals: { select: { stageId: true, status: true, layerDigest: true, createdAt: true, signedAt: true, approver: { select: { name: true } } } },
      },
    }),
  ]);
  const results: PackageSearchHit[] = images.map((img) => {
    const h = hits.get(img.id)!;
    return {
      registry: img.repository.registry.name,
      repository: img.repository.name,
      digest: img.digest,
      tags: img.repository.tags.filter((t) => t.digest === img.digest).map((t) => t.name).sort(),
      versions: [...h.versions].sort(),
      purls: [...h.purls].sort(),
      highestStage: stageStatuses(stages, img.approvals, img.signatures).current,
      deleted: Boolean(img.deletedAt),
    };
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

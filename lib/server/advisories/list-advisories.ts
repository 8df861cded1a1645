import "server-only";
import { db, type Prisma } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";

/** Imported advisories, newest import first, with how many images each affects. Every signed-in role may read. */
export async function listAdvisories({ actor: _actor, q, page = 1 }: { actor: Actor; q?: string; page?: number }) {
  if (q && (q.length > 200 || /[\u0000-\u001f]/.test(q))) throw new AppError("INVALID_INPUT", "q must be at most 200 printable characters", "q");
  if (!Number.isInteger(page) || page < 1 || page > 100_000) throw new AppError("INVALID_INPUT", "page must be a positive number", "page");
  const PAGE = 100;
  const where: Prisma.AdvisoryWhereInput = q
    ? { OR: [{ id: { contains: q, mode: "insensitive" } }, { aliases: { has: q.toUpperCase() } }, { summary: { contains: q, mode: "insensitive" } }] }
    : {};
  const [rows, total] = await Promise.all([
    db.advisory.findMany({ where, orderBy: [{ importedAt: "desc" }, { id: "asc" }], skip: (page - 1) * PAGE, take: PAGE, omit: { raw: true } }),
    db.advisory.count({ where }),
  ]);
  const counts = rows.length
    ? await db.$queryRaw<{ advisory_id: string; images: bigint; affected: bigint }[]>`
        SELECT advisory_id, count(DISTINCT image_id) AS images, count(DISTINCT image_id) FILTER (WHERE status = 'affected') AS affected
        FROM findings WHERE advisory_id = ANY(${rows.map((r) => r.id)}::text[]) GROUP BY advisory_id`
    : [];
  const byId = new Map(counts.map((c) => [c.advisory_id, c]));
  return {
    total,
    pages: Math.max(1, Math.ceil(total / PAGE)),
    advisories: rows.map((r) => ({
      id: r.id,
      aliases: r.aliases,
      summary: r.summary,
      severity: r.severity,
      cvssScore: r.cvssScore,
      modified: r.modified.toISOString(),
      withdrawn: r.withdrawn?.toISOString() ?? null,
      importedAt: r.importedAt.toISOString(),
      importedBy: r.importedBy,
      packages: r.packageKeys,
      images: Number(byId.get(r.id)?.images ?? 0),
      affectedImages: Number(byId.get(r.id)?.affected ?? 0),
    })),
  };
}

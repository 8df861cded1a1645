import "server-only";
import type { Tx } from "../../db";
import { componentKeys, parseOsvRecord } from "../../evidence/osv";
import { matchAdvisories, toMatchable } from "./match-advisories";

/**
 * Matches every stored advisory that may concern one image's components again (after an SBOM or VEX document
 * arrived for it), in the caller's transaction: new components gain their findings, a new VEX statement turns
 * the matching findings not_affected. Returns whether the image's advisory findings changed.
 */
export async function rematchImageAdvisories(tx: Tx, { imageId }: { imageId: string }): Promise<{ findings: number; advisories: number }> {
  // No advisory imported yet (the common case for a fresh install): nothing to match, skip reading the components.
  if (!(await tx.advisory.findFirst({ select: { id: true } }))) return { findings: 0, advisories: 0 };
  const comps = await tx.$queryRaw<{ name: string; purl: string | null; ecosystem: string | null }[]>`
    SELECT DISTINCT c.name, c.purl, c.ecosystem FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL AND d.not_counted IS NULL
    WHERE c.image_id = ${imageId}::uuid AND c.version IS NOT NULL`;
  const keys = [...new Set(comps.flatMap((c) => componentKeys(c).keys))];
  const previous = await tx.finding.findMany({ where: { imageId, advisoryId: { not: null } }, select: { advisoryId: true }, distinct: ["advisoryId"] });
  if (!keys.length && !previous.length) return { findings: 0, advisories: 0 };
  const rows = await tx.advisory.findMany({
    where: { OR: [{ packageKeys: { hasSome: keys } }, { id: { in: previous.map((p) => p.advisoryId!) } }] },
    select: { id: true, aliases: true, summary: true, severity: true, cvssScore: true, cvssVector: true, withdrawn: true, raw: true },
  });
  const m = await matchAdvisories(tx, { advisories: rows.map((r) => toMatchable(r, (raw) => parseOsvRecord(raw))), imageIds: [imageId] });
  return { findings: m.findings, advisories: rows.length };
}

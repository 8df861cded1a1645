import "server-only";
import { db } from "../../db";

/**
 * The evidence on record when an approval's gates were judged: what they could have relied on, as its verification
 * summary names it. Not a not-counted document (unsigned registry evidence under uploader rules: no gate counts it), nor
 * one withdrawn before the approval, nor (four eyes on evidence, gather-gate-facts.ts) an unsigned one the requester or
 * an approver uploaded (`excluded`).
 */
export function evidenceOnRecord({ imageId, at, excluded: ids }: { imageId: string; at: Date; excluded: readonly (string | null | undefined)[] }) {
  const excluded = [...new Set(ids.filter((x): x is string => !!x))];
  const own = excluded.length ? [{ OR: [{ signatureStatus: "signed" }, { uploaderId: null }, { uploaderId: { notIn: excluded } }] }] : [];
  return db.evidenceDocument.findMany({
    where: { imageId, uploadedAt: { lte: at }, notCounted: null, AND: [{ OR: [{ withdrawnAt: null }, { withdrawnAt: { gt: at } }] }, ...own] },
    select: { id: true, contentDigest: true, source: true, artifactDigest: true },
    orderBy: { uploadedAt: "asc" },
    take: 200,
  });
}

import "server-only";
import { db, Prisma } from "../../db";

/**
 * Two identical uploads at the same instant both pass the "already stored?" check; the second one's INSERT (or its
 * final UPDATE of the content digest) then hits the (image, content digest) unique index and its transaction rolls back
 * whole. That upload is not a conflict: the document it sent is stored, by the other request. This returns that
 * document when the error is a unique violation and the document really is there now; anything else is not ours
 * to explain (null: rethrow).
 */
export async function concurrentlyStoredDocument(e: unknown, { imageId, contentDigest }: { imageId: string; contentDigest: string }) {
  const unique = (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") || (e as { code?: unknown } | null)?.code === "23505";
  if (!unique) return null;
  return db.evidenceDocument.findUnique({ where: { imageId_contentDigest: { imageId, contentDigest } }, omit: { raw: true } });
}

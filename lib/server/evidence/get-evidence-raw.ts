import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { isUuid } from "../../uuid";

/**
 * A stored evidence document's metadata, for streaming it byte for byte as uploaded (evidenceRawStream: from its
 * chunks when it was streamed in, else from `raw`). The caller resolved `imageId` with getImage for this actor,
 * which is the access check; the document must belong to that image (an id of another image's document is NOT_FOUND).
 */
export async function getEvidenceRaw({ actor: _actor, imageId, documentId }: { actor: Actor; imageId: string; documentId: string }) {
  if (!isUuid(documentId)) throw new AppError("NOT_FOUND", "no such evidence document for this image");
  const doc = await db.evidenceDocument.findFirst({
    where: { id: documentId, imageId },
    select: { id: true, rawChunks: true, size: true, format: true, contentDigest: true },
  });
  if (!doc) throw new AppError("NOT_FOUND", "no such evidence document for this image");
  return doc;
}

import "server-only";
import { db, type Tx } from "../../db";

/**
 * Every reader of a stored evidence document's bytes goes through here: a document ingested whole keeps them in
 * evidence_documents.raw (raw_chunks = 0); a streamed one (issue 17) in raw_chunks rows of evidence_document_chunks.
 * Callers have checked access to the document already.
 */
export async function readEvidenceRaw(client: Tx | typeof db, doc: { id: string; raw?: Uint8Array; rawChunks: number }): Promise<Buffer> {
  if (doc.rawChunks === 0) {
    const raw = doc.raw ?? (await client.evidenceDocument.findUniqueOrThrow({ where: { id: doc.id }, select: { raw: true } })).raw;
    return Buffer.from(raw);
  }
  const parts: Buffer[] = [];
  for await (const b of evidenceRawChunks(client, doc)) parts.push(b);
  return Buffer.concat(parts);
}

/** The stored bytes one chunk row at a time (memory: one ~1 MiB row), in upload order. */
export async function* evidenceRawChunks(client: Tx | typeof db, doc: { id: string; raw?: Uint8Array; rawChunks: number }): AsyncGenerator<Buffer> {
  if (doc.rawChunks === 0) {
    yield await readEvidenceRaw(client, doc);
    return;
  }
  for (let seq = 0; seq < doc.rawChunks; seq++) {
    const row = await client.evidenceDocumentChunk.findUnique({ where: { documentId_seq: { documentId: doc.id, seq } }, select: { bytes: true } });
    if (!row) throw new Error(`evidence document ${doc.id}: chunk ${seq} of ${doc.rawChunks} is missing`);
    yield Buffer.from(row.bytes);
  }
}

/** A web stream of the stored bytes, for a download response that does not hold a large document whole. */
export function evidenceRawStream(doc: { id: string; raw?: Uint8Array; rawChunks: number }): ReadableStream<Uint8Array> {
  const it = evidenceRawChunks(db, doc);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value));
    },
    async cancel() {
      await it.return(undefined);
    },
  });
}

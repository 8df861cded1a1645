import "server-only";
import { firstSeenAt } from "./first-seen";
import { randomUUID } from "node:crypto";
import { db, bytes as dbBytes, IN_TRANSACTION_BLOCK, txConnection, type Tx } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { EvidenceError } from "../../evidence/detect";
import { sniffSbomFormat, streamSbom, type StreamedFormat } from "../../evidence/sbom-stream";
import { actorLabel, requireRole, type Actor } from "../actor";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { appendAuditEvent } from "../audit/append-audit-event";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import {
  acceptableSubjects,
  registryRulesCover,
  ingestEvidence,
  insertComponents,
  insertFindings,
  outsideTransaction,
  parseDate,
  statementVerdict,
  type IngestEvidenceResult,
} from "./ingest-evidence";
import { concurrentlyStoredDocument } from "./concurrent-duplicate";
import { assertMayAttachEvidence, registryNotCounted } from "./may-attach-evidence";
import { spoolBody, type SpooledBody } from "./spool-body";
import { indexDocumentPackages } from "./package-index";

/** Documents up to this size are read whole and take the buffered path (every format, JSON Lines). */
export const STREAM_THRESHOLD_BYTES = 8 * 1024 * 1024;

/**
 * Batch and chunk sizes of the streamed path (issue 17). Chunks and batches are sent on the transaction's own pg
 * connection (txConnection): through Prisma, every parameter was serialised to JSON (a chunk as base64), parsed back
 * and kept in the last 100 debug calls' arguments of both Prisma's client and its pg adapter (@prisma/debug
 * argsHistory, kept whether DEBUG is set or not), strings that size going to V8's large-object space, freed only by
 * a full GC. 256 KiB chunks keep the Prisma fallback (connection not identified) bounded too: ~35 MiB of history at
 * most. Batches stay at 1000: smaller ones cost round trips inside the transaction (300 s budget) for little memory.
 */
const STREAM_BATCH_COMPONENTS = 1000;
const STREAM_RAW_CHUNK_BYTES = 256 * 1024;
const INSERT_CHUNK_SQL = `INSERT INTO evidence_document_chunks (document_id, seq, bytes) SELECT $1::uuid, $2, $3 WHERE ${IN_TRANSACTION_BLOCK}`;

export interface IngestEvidenceUploadOptions {
  actor: Actor;
  imageId: string;
  /** The request body as it arrives. */
  body: AsyncIterable<Uint8Array>;
  /** EVIDENCE_MAX_BYTES: refused with 413 as soon as one more byte arrives, on either path. */
  maxBytes: number;
  source?: "upload" | "registry";
  /** Tests lower it; the default keeps small documents on the buffered path. */
  streamThreshold?: number;
}

class Duplicate extends Error {
  constructor(readonly document: IngestEvidenceResult["document"]) {
    super("duplicate");
  }
}

function appError(e: unknown): unknown {
  if (!(e instanceof EvidenceError)) return e;
  if (e.code === "TOO_LARGE") return new AppError("PAYLOAD_TOO_LARGE", `body exceeds the limit: ${e.message}`, "body");
  return new AppError(e.code === "MALFORMED_JSON" ? "BAD_REQUEST" : "INVALID_INPUT", e.message, "body");
}

/**
 * Stores an uploaded evidence document from its body stream (issue 17). The body is first read whole, hashed and
 * capped at `maxBytes` as it arrives: up to `streamThreshold` bytes in memory, past that into a private temp file
 * (spoolBody). No database connection is taken while the client sends, however slowly. A body up to the threshold,
 * or a larger one that does not declare itself a CycloneDX or SPDX JSON document in its first `streamThreshold`
 * bytes, is ingested whole by ingestEvidence() as before. A larger CycloneDX / SPDX SBOM is streamed from the file:
 * its bytes go into evidence_document_chunks and its components into batched INSERTs as they are parsed, inside
 * one transaction with the document row, the package index, the subject check and the audit event; any refusal
 * halfway (bad JSON, a component that fails the schema, not about this image) rolls it all back. Memory stays
 * bounded by one batch and one chunk, not by the document. The file is deleted whatever happens.
 */
export async function ingestEvidenceUpload({
  actor,
  imageId,
  body,
  maxBytes,
  source = "upload",
  streamThreshold = STREAM_THRESHOLD_BYTES,
}: IngestEvidenceUploadOptions): Promise<IngestEvidenceResult> {
  // Who may attach evidence to this repository is known before a byte is read: a refused uploader gets the 403 at once,
  // instead of after sending up to maxBytes into this host's memory or disk. (Both paths check again, as before.)
  if (source === "upload") await assertUploadAllowed(actor, imageId);
  const spool = await spoolBody({ body, maxBytes, memoryBytes: streamThreshold, budgetBytes: env().EVIDENCE_SPOOL_MAX_BYTES });
  try {
    if (spool.size === 0) throw new AppError("BAD_REQUEST", "the body is empty; send the document as the request body", "body");
    if (spool.memory) return await ingestEvidence({ actor, imageId, bytes: spool.memory, source });
    const format = sniffSbomFormat(await spool.prefix(streamThreshold + 1));
    // Not a streamable SBOM: the whole body down the buffered path, within its own bound and one at a time per process.
    if (!format) return await ingestBuffered({ actor, imageId, source, spool });
    return await ingestStreamed({ actor, imageId, source, maxBytes, format, spool });
  } finally {
    await spool.dispose();
  }
}

/** Large documents parsed whole at once in this process (each can take many times its size in memory). */
const MAX_LARGE_BUFFERED = 2;
let largeBuffered = 0;

/**
 * A body past the in-memory threshold that is not a streamable SBOM (a scan, VEX, attestation…): parsed whole, so it
 * is bounded by EVIDENCE_BUFFERED_MAX_BYTES (413) and at most MAX_LARGE_BUFFERED run at once per process (429, retry):
 * a parsed document takes 20 to 35 times its size in heap, and four 256 MiB scans at once would take the process
 * down (found by review). A per-process guard of its own memory, not state replicas must agree on.
 */
async function ingestBuffered({ actor, imageId, source, spool }: { actor: Actor; imageId: string; source: "upload" | "registry"; spool: SpooledBody }) {
  const max = env().EVIDENCE_BUFFERED_MAX_BYTES;
  if (spool.size > max)
    throw new AppError(
      "PAYLOAD_TOO_LARGE",
      `body is ${spool.size} bytes; documents other than CycloneDX or SPDX JSON SBOMs are parsed whole and may be at most ${max} bytes (EVIDENCE_BUFFERED_MAX_BYTES); SBOMs stream up to EVIDENCE_MAX_BYTES`,
      "body",
    );
  if (largeBuffered >= MAX_LARGE_BUFFERED)
    throw new AppError("RATE_LIMITED", `this server is parsing ${largeBuffered} large evidence documents already; retry shortly`, "body");
  largeBuffered++;
  try {
    return await ingestEvidence({ actor, imageId, bytes: await spool.readAll(), source });
  } finally {
    largeBuffered--;
  }
}

async function assertUploadAllowed(actor: Actor, imageId: string): Promise<void> {
  requireRole(actor, ["admin", "developer", "reviewer"], "uploading evidence");
  const image = await db.image.findUnique({ where: { id: imageId }, select: { repository: { select: { name: true } } } });
  if (!image) throw new AppError("NOT_FOUND", "no such image");
  await assertMayAttachEvidence({ actor, repository: image.repository.name });
}

/** The document's row before its stream is read (components and chunks reference it); the placeholders are filled in after. */
async function createPlaceholder(
  tx: Tx,
  {
    documentId,
    imageId,
    format,
    source,
    actor,
    now,
  }: { documentId: string; imageId: string; format: StreamedFormat; source: "upload" | "registry"; actor: Actor; now: Date },
) {
  await tx.evidenceDocument.create({
    data: {
      id: documentId,
      imageId,
      contentDigest: `pending:${documentId}`,
      format,
      kind: "sbom",
      source,
      uploadedBy: actorLabel(actor),
      uploaderId: actor.kind === "user" ? actor.id : null,
      uploadedAt: now,
      signatureStatus: "unsigned",
      size: 0,
      raw: dbBytes(new Uint8Array(0)),
    },
    select: { id: true },
  });
}

/** Parses the spooled document as a stream: components in batches, the raw bytes as chunks, both into the transaction. */
async function streamIntoDocument(
  tx: Tx,
  { documentId, imageId, format, maxBytes, spool }: { documentId: string; imageId: string; format: StreamedFormat; maxBytes: number; spool: SpooledBody },
) {
  let seq = 0;
  // Chunks and batches on the transaction's own connection: bytes as one binary parameter, not base64 in JSON.
  const conn = await txConnection(tx);
  // Pieces the size of a stored chunk: each is stored as it was read, with no copy or concatenation (issue 17).
  const parsed = await streamSbom(spool.chunks(STREAM_RAW_CHUNK_BYTES), {
    format,
    maxBytes,
    batchSize: STREAM_BATCH_COMPONENTS,
    rawChunkBytes: STREAM_RAW_CHUNK_BYTES,
    // The spool can be read again: bom-refs are looked up in a second pass, not held for the whole document.
    reread: () => spool.chunks(),
    sink: {
      components: (batch) => insertComponents(tx, { documentId, imageId, components: batch, conn }),
      raw: async (bytes) => {
        const n = seq++;
        if (conn) {
          if ((await conn.query(INSERT_CHUNK_SQL, [documentId, n, bytes])) !== 1) throw outsideTransaction();
        } else await tx.$executeRaw`INSERT INTO evidence_document_chunks (document_id, seq, bytes) VALUES (${documentId}::uuid, ${n}, ${dbBytes(bytes)})`;
      },
    },
  });
  return { parsed, seq };
}

// eslint-disable-next-line max-lines-per-function -- one transaction that the stream runs inside: row, components, chunks, index, findings and audit must commit or roll back together (a refusal halfway leaves nothing)
async function ingestStreamed({
  actor,
  imageId,
  source,
  maxBytes,
  format,
  spool,
}: {
  actor: Actor;
  imageId: string;
  source: "upload" | "registry";
  maxBytes: number;
  format: StreamedFormat;
  spool: SpooledBody;
}): Promise<IngestEvidenceResult> {
  if (source === "upload") requireRole(actor, ["admin", "developer", "reviewer"], "uploading evidence");
  const { image, ok, platformSpecific } = await acceptableSubjects(imageId);
  const repo = await db.repository.findUniqueOrThrow({ where: { id: image.repositoryId }, select: { name: true } });
  if (source === "upload") await assertMayAttachEvidence({ actor, repository: repo.name });
  // The same bytes for the same image: a no-op, known from the spool's hash before any parsing or transaction.
  const known = await db.evidenceDocument.findUnique({ where: { imageId_contentDigest: { imageId, contentDigest: spool.digest } }, omit: { raw: true } });
  if (known) return { document: known, documents: [known], created: false };
  const now = new Date();
  const documentId = randomUUID();
  try {
    const document = await db.$transaction(
      async (tx) => {
        // The row first (components and chunks reference it), with placeholders filled in once the stream is read.
        await createPlaceholder(tx, { documentId, imageId, format, source, actor, now });
        const { parsed, seq } = await streamIntoDocument(tx, { documentId, imageId, format, maxBytes, spool });
        // The file is private (0600, O_EXCL) but is read a second time: what is stored must be what was hashed.
        if (parsed.contentDigest !== spool.digest)
          throw new Error(`the spooled body changed on disk (${spool.digest} received, ${parsed.contentDigest} read back)`);
        const existing = await tx.evidenceDocument.findUnique({
          where: { imageId_contentDigest: { imageId, contentDigest: parsed.contentDigest } },
          omit: { raw: true },
        });
        if (existing) throw new Duplicate(existing);
        // The same subject rule as the buffered path: a document that names digests must name this image.
        const named = parsed.subjects.map((s) => s.digest).filter((d): d is string => Boolean(d));
        const subjectDigest = named.find((d) => platformSpecific.has(d)) ?? named.find((d) => ok.has(d)) ?? null;
        if (named.length && !subjectDigest) {
          throw new AppError(
            "INVALID_INPUT",
            `the document names ${[...new Set(named)].slice(0, 3).join(", ")}, which is not this image (manifest ${image.digest}${image.configDigest ? `, config ${image.configDigest}` : ""})`,
            "subject",
          );
        }
        // A plain SBOM is never a signed envelope: unsigned, with the same wording as the buffered path.
        const sig = statementVerdict(
          { evidence: { format: parsed.format, kind: parsed.kind, components: [], findings: [], subjects: [] } },
          new Map(),
          repo.name,
        );
        const stated = parseDate(parsed.scannedAt);
        const clamped = stated !== null && stated.getTime() > now.getTime();
        // Never a signed envelope: what is "signed" is the document's bytes.
        const firstSeen = await firstSeenAt(tx, { kind: parsed.kind, payloadDigest: parsed.contentDigest, subjectDigest, imageDigest: image.digest, now });
        const doc = await tx.evidenceDocument.update({
          where: { id: documentId },
          data: {
            contentDigest: parsed.contentDigest,
            kind: parsed.kind,
            scannedAt: clamped ? now : stated,
            payloadDigest: parsed.contentDigest,
            firstSeenAt: firstSeen,
            toolName: parsed.tool?.name ?? null,
            toolVersion: parsed.tool?.version ?? null,
            subjectDigest,
            signatureStatus: sig.status,
            signedBy: sig.by,
            signatureDetail: sig.detail,
            // As the buffered path: registry evidence on a repository under uploader rules counts only when signed (never, here).
            notCounted: registryNotCounted(source, sig.status, source === "registry" && (await registryRulesCover(tx, repo.name))),
            size: parsed.size,
            rawChunks: seq,
            componentCount: parsed.componentCount,
            findingCount: parsed.findings.length,
          },
          omit: { raw: true },
        });
        if (parsed.componentCount) await indexDocumentPackages(tx, { documentId, imageId });
        await insertFindings(tx, { documentId, imageId, findings: parsed.findings });
        if (parsed.componentCount > 0 || parsed.kind === "vex") await rematchImageAdvisories(tx, { imageId });
        await requestReevaluation(tx, { trigger: "evidence", imageIds: [imageId] });
        // Last: the first audit append takes the chain lock, which every audited write waits for until this commits;
        // taken before matching advisories against a large SBOM, it held them all for that long.
        await appendAuditEvent(tx, {
          actor,
          action: source === "upload" ? "evidence.upload" : "evidence.discover",
          targetDigest: image.digest,
          detail: {
            documentId,
            contentDigest: parsed.contentDigest,
            format: parsed.format,
            kind: parsed.kind,
            components: parsed.componentCount,
            findings: parsed.findings.length,
            signature: sig.status,
            signedBy: sig.by,
            artifactDigest: null,
            streamed: true,
            ...(clamped ? { statedScanTime: parsed.scannedAt, scanTimeClampedTo: now.toISOString() } : {}),
          },
        });
        return doc;
      },
      { timeout: 300_000, maxWait: 30_000 },
    );
    return { document, documents: [document], created: true };
  } catch (e) {
    if (e instanceof Duplicate) return { document: e.document, documents: [e.document], created: false };
    const stored = await concurrentlyStoredDocument(e, { imageId, contentDigest: spool.digest });
    if (stored) return { document: stored, documents: [stored], created: false };
    throw appError(e);
  }
}

import "server-only";
import type { Tx } from "../../db";
import { sha256Digest } from "../../oci/digest";

/**
 * What a document's age is judged by: the sha256 of what is signed (a DSSE envelope's payload, also inside a Sigstore
 * bundle), else of the document's bytes. A signed scan that states no time cannot be made younger by uploading its
 * payload again in a new wrapper (signatures reordered or dropped, the envelope's JSON reformatted): the payload is the
 * same. A bare in-toto statement and the DSSE envelope that signs it share it too.
 */
export function payloadDigest(statement: { bytes: Buffer; evidence: { dsse?: { payload: Buffer } } }): string {
  return statement.evidence.dsse ? sha256Digest(statement.evidence.dsse.payload) : sha256Digest(statement.bytes);
}

/**
 * When Imprimatur first received this payload for this subject (the digest the document names, else the image it is
 * filed on): `now` for a new one, else the earliest earlier upload's, withdrawn or not counted ones included (they were
 * received all the same). Only a scan's age depends on it, so other kinds are not looked up. Two uploads racing each
 * other both get about `now`, which is what they are.
 */
export async function firstSeenAt(
  tx: Tx,
  {
    kind,
    payloadDigest,
    subjectDigest,
    imageDigest,
    now,
  }: { kind: string; payloadDigest: string; subjectDigest: string | null; imageDigest: string; now: Date },
): Promise<Date> {
  if (kind !== "scan") return now;
  const [row] = await tx.$queryRaw<{ at: Date | null }[]>`
    SELECT min(coalesce(d.first_seen_at, d.uploaded_at)) AS at
    FROM evidence_documents d JOIN images i ON i.id = d.image_id
    WHERE d.payload_digest = ${payloadDigest} AND coalesce(d.subject_digest, i.digest) = ${subjectDigest ?? imageDigest}`;
  return row?.at && row.at < now ? row.at : now;
}

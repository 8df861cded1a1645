import "server-only";
import type { Descriptor } from "../../oci/manifest";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";

/**
 * What refreshSignatures verifies on a digest, and which of it Imprimatur made: the cosign `.sig` layers and the
 * referrer signatures, with Imprimatur's records of its own.
 */

/** The referrer kinds verified as signatures (a Sigstore bundle only with cosign's sign predicate, see below). */
export type SignatureKind = "sigstore-bundle" | "notation-signature";

export type Candidate =
  | { source: "cosign"; layer: Descriptor; position: number; ours: boolean }
  | { source: "referrer"; artifactDigest: string; kind: SignatureKind; position: number; ours: boolean };

/** An approval's stage layer as Imprimatur recorded it: the signature it made, and that signature's trusted time. */
export type RecordedLayer = { signature: string; time: { at: Date; by: string } };

/**
 * Imprimatur's record of a cosign layer: only for the very signature bytes an approval recorded. A cosign layer's
 * digest binds its payload, not the signature annotation beside it, and the payload is public: anyone holding a key
 * (one revoked since, say) can sign it again and put that signature under the same layer digest, or put junk there.
 */
export function recordedLayer(c: Candidate, ourLayers: ReadonlyMap<string, RecordedLayer>): RecordedLayer | null {
  if (c.source !== "cosign") return null;
  const made = ourLayers.get(c.layer.digest);
  return made !== undefined && c.layer.annotations?.[SIGNATURE_ANNOTATION] === made.signature ? made : null;
}

/**
 * The cosign layers, each (digest, signature) once, then the referrer signatures, each digest once, marked when
 * Imprimatur made it. A layer digest is not a signature's identity: the same public payload may be signed by several
 * keys, or carry junk, under one digest, and each is a signature of its own.
 */
export function collectCandidates(
  layers: Descriptor[],
  referrers: { digest: string; kind: string }[],
  ourLayers: ReadonlyMap<string, RecordedLayer>,
  ourBundles: ReadonlyMap<string, unknown>,
): Candidate[] {
  const candidates: Candidate[] = [];
  const dup = new Set<string>();
  layers.forEach((layer, position) => {
    const key = `${layer.digest} ${layer.annotations?.[SIGNATURE_ANNOTATION] ?? ""}`;
    if (dup.has(key)) return;
    dup.add(key);
    const c: Candidate = { source: "cosign", layer, position, ours: false };
    c.ours = recordedLayer(c, ourLayers) !== null;
    candidates.push(c);
  });
  const seenReferrers = new Set<string>(layers.map((l) => l.digest));
  referrers.forEach((a, i) => {
    if (seenReferrers.has(a.digest)) return;
    seenReferrers.add(a.digest);
    candidates.push({
      source: "referrer",
      artifactDigest: a.digest,
      kind: a.kind as SignatureKind,
      position: layers.length + i,
      ours: ourBundles.has(a.digest),
    });
  });
  return candidates;
}

/**
 * Imprimatur's own record of when it made a signature is a trusted time: the approval (or bundle) row was committed,
 * with its audit event, before the signature was pushed, and the layer digest binds the exact payload. An approval's
 * layer is dated by the approval's trusted time as stored (its TSA token's time, checked when it was asked for, else
 * the record), the time every decision on the approval is made at: the RFC 3161 annotation the registry now shows
 * beside it is not bound by the layer digest, and a newer genuine token put there would move it (see judgeTrust).
 */
export function ourRecords(
  approvals: {
    id: string;
    layerDigest: string;
    signature: string;
    createdAt: Date;
    trustedAt: Date | null;
    trustedBy: string | null;
    timestampBy: string | null;
  }[],
  bundles: { approvalId: string; artifactDigest: string; createdAt: Date }[],
) {
  const ourLayers = new Map<string, RecordedLayer>();
  for (const a of approvals) {
    const time =
      a.trustedBy === "tsa" && a.trustedAt
        ? { at: a.trustedAt, by: `${a.timestampBy ?? "the TSA"}, as Imprimatur recorded it for approval ${a.id}` }
        : { at: a.trustedAt ?? a.createdAt, by: `Imprimatur's record of approval ${a.id}` };
    ourLayers.set(a.layerDigest, { signature: a.signature, time });
  }
  const ourBundles = new Map<string, { at: Date; by: string }>();
  for (const b of bundles) ourBundles.set(b.artifactDigest, { at: b.createdAt, by: `Imprimatur's record of the bundle of approval ${b.approvalId}` });
  return { ourLayers, ourBundles };
}

export type StoredRow = { cosign: boolean; pinned: boolean; verified: boolean; upsert: () => Promise<unknown> };

/**
 * One row per layer digest (the table's key), while several cosign layers may share one. The layer carrying an
 * approval's recorded signature (`pinned`) is the one stored for its digest (ours are tried first); among other
 * layers a verified one replaces one that is not, so a garbage layer never stops a good one from verifying. Referrers
 * keep the first row per blob.
 */
export function replaces(prev: StoredRow | undefined, c: Candidate, pinned: boolean, verified: boolean): boolean {
  if (!prev) return true;
  return prev.cosign && c.source === "cosign" && !prev.pinned && (pinned || (verified && !prev.verified));
}

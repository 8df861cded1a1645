import "server-only";
import { COSIGN_SIGN_PREDICATE_TYPE } from "../../signing/formats/sigstore-write";
import { bytes, db, Prisma } from "../../db";
import { env } from "../../env";
import type { RegistryClient } from "../../oci/client";
import { OciError, sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest, type Descriptor, type ImageManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { judgeTrust, type TrustJudgement } from "../../signing/trust/judgement";
import { CHECKS, type SignatureFormat } from "../../signing/verification";
import { loadTrust, thresholdsFor, type LoadedTrust } from "../trust/load-trust";
import { unreadable, verifyCosignLayerWithPayload, type VerifiedSignature } from "./verify-signature";
import { collectCandidates, ourRecords, recordedLayer, replaces, type Candidate, type SignatureKind, type StoredRow } from "./signature-candidates";
import { verifyReferrerSignature } from "./verify-referrer-signature";
import { appendAuditEvent } from "../audit/append-audit-event";
import { markRewrappedBundles } from "./rewrapped-bundles";
import { jsonColumn, signatureChecksColumn, signatureOptionalColumn, signatureSignerColumn } from "../json-columns";

/** Signature blobs over this size are not read: a signature is a few KiB; a huge one is an attack on the server. */
export const MAX_SIGNATURE_BYTES = 1024 * 1024;

export interface RefreshSignaturesResult {
  /** Signatures found (cosign layers and referrer signatures, duplicates once). */
  found: number;
  /** Signatures verified this pass (at most the cap). Kept as `total` for the sync statistics. */
  total: number;
  verified: number;
  notTried: number;
}

/**
 * A revoked approval whose stage signature (the `.sig` layer or its Sigstore bundle referrer) is back in the registry
 * after its removal: anyone with push access can put the public descriptor back, and the signature still verifies with
 * the stage key, which is all a cluster's cosign, Kyverno or policy-controller check asks. Imprimatur's own verify and
 * ImageReview deny it regardless; the revocation goes back to "pending" (audited), so the scheduler tick removes it
 * again. This bounds the window to the sync interval; only rotating the stage key cuts such a signature off for good.
 * A bundle is recognised by its blob as well as by its referrer manifest: attaching the saved bundle again (`oras
 * attach`, `cosign attach`) writes a new manifest around the same blob, and removeRevokedSignatures removes that one too.
 */
async function reopenReappearedRevocations({
  imageId,
  repository,
  digest,
  approvals,
  bundles,
  candidates,
  referrerBlobs,
}: {
  imageId: string;
  repository: string;
  digest: Digest;
  approvals: { id: string; layerDigest: string; revocationState: string | null }[];
  bundles: { approvalId: string; artifactDigest: string; bundleDigest: string }[];
  candidates: Candidate[];
  /** The blob digests of the referrer signatures read this pass. */
  referrerBlobs: ReadonlySet<string>;
}): Promise<void> {
  const present = new Set(candidates.map((c) => (c.source === "cosign" ? c.layer.digest : c.artifactDigest)));
  const bundleBack = (a: { id: string }) => bundles.some((b) => b.approvalId === a.id && (present.has(b.artifactDigest) || referrerBlobs.has(b.bundleDigest)));
  const back = approvals.filter((a) => a.revocationState === "removed" && (present.has(a.layerDigest) || bundleBack(a)));
  if (back.length === 0) return;
  const error = `the revoked signature reappeared in the registry (seen ${new Date().toISOString()}); removing it again`;
  await db.$transaction(async (tx) => {
    // Only rows still "removed": a concurrent removal in progress keeps its own state.
    const ids = back.map((a) => a.id);
    const reopened = await tx.approval.updateMany({
      where: { id: { in: ids }, revocationState: "removed" },
      data: { revocationState: "pending", revocationError: error },
    });
    if (reopened.count === 0) return;
    const image = await tx.image.findUniqueOrThrow({ where: { id: imageId }, select: { repository: { select: { registry: { select: { name: true } } } } } });
    await appendAuditEvent(tx, {
      actor: { kind: "system", label: "signature refresh" },
      action: "approval.revoke.registry",
      outcome: "failure",
      targetDigest: digest,
      target: `${image.repository.registry.name}/${repository}`,
      detail: { approvalIds: ids, error },
    });
  });
}

/** The layers of the cosign `.sig` manifest, and what was wrong with it (only an unreachable registry throws). */
async function readSigLayers(client: RegistryClient, repository: string, digest: Digest) {
  let layers: Descriptor[] = [];
  let sigProblem: string | null = null;
  try {
    const m = await client.getManifest(repository, cosignTag(digest, "sig"));
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind === "manifest") layers = parsed.manifest.layers;
    else sigProblem = `${cosignTag(digest, "sig")} is an index, not a cosign signature manifest`;
  } catch (e) {
    // Only the registry going away stops the pass. A hostile or broken .sig manifest (bad JSON, too large) must not
    // keep the referrer signatures, Imprimatur's own bundles among them, from being verified.
    if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
    if (e.code !== "NOT_FOUND") sigProblem = `the cosign signature manifest ${cosignTag(digest, "sig")} could not be read: ${e.message.slice(0, 300)}`;
  }
  return { layers, sigProblem };
}

interface CheckedSignature {
  layerDigest: string;
  mediaType: string;
  annotations: Record<string, string>;
  payload: Uint8Array | null;
  artifactDigest: string | null;
  v: VerifiedSignature;
}

/** Verifies one candidate; a bad or unreadable signature is condemned on its own (only an unreachable registry throws). */
async function checkCandidate(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  c: Candidate,
  trust: LoadedTrust,
  knownBlobs: ReadonlyMap<string, Uint8Array>,
): Promise<CheckedSignature> {
  let row: CheckedSignature;
  try {
    row =
      c.source === "cosign"
        ? await checkCosignLayer(client, repository, digest, c.layer, trust, knownBlobs)
        : await checkReferrer(client, repository, digest, c.artifactDigest, c.kind, trust);
  } catch (e) {
    // The registry going away stops the pass (the next sync retries); anything else condemns this signature only.
    if (e instanceof OciError && e.code === "UNAVAILABLE") throw e;
    const key = c.source === "cosign" ? c.layer.digest : c.artifactDigest;
    const format: SignatureFormat = c.source === "cosign" ? "cosign" : c.kind === "notation-signature" ? "notation" : "sigstore-bundle";
    row = {
      layerDigest: key,
      mediaType: c.source === "cosign" ? c.layer.mediaType : c.kind,
      annotations: c.source === "cosign" ? (c.layer.annotations ?? {}) : {},
      payload: null,
      artifactDigest: c.source === "referrer" ? c.artifactDigest : null,
      v: unreadable(format, CHECKS.signature, `could not be verified: ${e instanceof Error ? e.message.slice(0, 300) : "unknown error"}`),
    };
  }
  return row;
}

/** The signature row's columns: what was read, the trust judgement, and the identity that vouched when verified. */
function signatureData(position: number, row: CheckedSignature, j: TrustJudgement) {
  const fingerprint = j.signer?.kind === "key" ? j.signer.fingerprint : j.signer?.kind === "certificate" ? j.signer.leaf.fingerprint : null;
  return {
    position,
    mediaType: row.mediaType,
    annotations: row.annotations,
    payload: row.payload ? bytes(row.payload) : null,
    dockerReference: row.v.dockerReference ?? null,
    payloadDigest: row.v.payloadDigest ?? null,
    optional: row.v.optional ? jsonColumn(signatureOptionalColumn, row.v.optional) : undefined,
    verdict: j.verdict,
    detail: j.detail,
    // Admission and the stage status read these: the identity that vouched, only when every check passed.
    keyName: j.verdict === "verified" ? j.identity : null,
    keyFingerprint: fingerprint,
    checkedAt: new Date(),
    format: j.format,
    checks: jsonColumn(signatureChecksColumn, j.checks),
    signer: j.signer ? jsonColumn(signatureSignerColumn, j.signer) : Prisma.DbNull,
    timeKind: j.time?.kind ?? null,
    timeAt: j.time?.at ? new Date(j.time.at) : null,
    timeBy: j.time?.by ?? null,
    trustedBy: j.trustedBy,
    role: j.role,
    artifactDigest: row.artifactDigest,
  };
}

/** The write of one signature row, run after the pass (see the end of refreshSignatures). */
function upsertSignature(imageId: string, layerDigest: string, data: ReturnType<typeof signatureData>) {
  return () => db.signature.upsert({ where: { imageId_layerDigest: { imageId, layerDigest } }, create: { imageId, layerDigest, ...data }, update: data });
}

/** What refreshSignatures reads of each approval of the image: its layer, its recorded signature and trusted time, its revocation. */
const APPROVAL_RECORD = {
  id: true,
  layerDigest: true,
  signature: true,
  createdAt: true,
  trustedAt: true,
  trustedBy: true,
  timestampBy: true,
  revocationState: true,
} as const;

/**
 * Verifies every signature on a digest and stores each with its ordered checks: the layers of the cosign `.sig`
 * manifest (key- and certificate-based) and the Sigstore bundles and Notation signatures attached as OCI referrers.
 *
 * Hostile input is bounded: signatures Imprimatur recorded itself (its approvals, its bundles) are verified first, so
 * junk cannot crowd them out of the budget; at most SIGNATURE_VERIFY_CAP are verified and the rest are counted as
 * "not tried"; a blob over 1 MiB is not read; a bad signature never stops the others from being verified.
 */
export async function refreshSignatures(opts: {
  client: RegistryClient;
  imageId: string;
  repository: string;
  digest: Digest;
  /** Preloaded trust (a sync loads it once); loaded here when absent. */
  trust?: LoadedTrust;
  /**
   * What the caller has just read from the registry or pushed to it, so it is not fetched again: the `.sig` manifest
   * as read back from the registry (its layers and their signature annotations are what is verified), and blobs the
   * caller pushed. A blob is used for a layer only when its SHA-256 is the layer's digest, which makes it the very
   * bytes the registry holds under that digest; every other layer's blob is read from the registry as usual.
   */
  known?: { sigManifest: ImageManifest; blobs: Uint8Array[] };
}): Promise<RefreshSignaturesResult> {
  const { client, imageId, repository, digest, known } = opts;
  const cap = env().SIGNATURE_VERIFY_CAP;

  // The registry read and the database reads do not depend on each other: side by side.
  const [trust, { layers, sigProblem }, approvals, bundles, referrers] = await Promise.all([
    opts.trust ?? loadTrust(),
    known ? { layers: known.sigManifest.layers, sigProblem: null } : readSigLayers(client, repository, digest),
    db.approval.findMany({ where: { imageId }, select: APPROVAL_RECORD }),
    db.stageBundle.findMany({ where: { imageId }, select: { approvalId: true, artifactDigest: true, bundleDigest: true, createdAt: true } }),
    // A Sigstore bundle whose manifest names another predicate than cosign's sign predicate is an attestation (a
    // provenance, an SBOM, our own VSA), read as evidence only. One that names none, or names the sign predicate, is
    // verified as a signature, and its statement must then really be a sign statement (verifySigstoreBundle asSignature).
    db.artifact.findMany({
      where: {
        imageId,
        OR: [{ kind: "notation-signature" }, { kind: "sigstore-bundle", OR: [{ predicateType: null }, { predicateType: COSIGN_SIGN_PREDICATE_TYPE }] }],
      },
      orderBy: { discoveredAt: "asc" },
      select: { digest: true, kind: true },
    }),
  ]);
  const { ourLayers, ourBundles } = ourRecords(approvals, bundles);
  // The blobs of this image's bundles whose revocation was carried out: a new manifest around one is ours again.
  const removed = new Set(bundles.filter((b) => approvals.some((a) => a.id === b.approvalId && a.revocationState === "removed")).map((b) => b.bundleDigest));
  const candidates = await markRewrappedBundles(client, repository, collectCandidates(layers, referrers, ourLayers, ourBundles), removed);
  // Ours first (see above), then in manifest / discovery order.
  const ordered = candidates.sort((a, b) => Number(b.ours) - Number(a.ours) || a.position - b.position);
  const tried = ordered.slice(0, cap);
  const notTried = ordered.length - tried.length;

  const knownBlobs = new Map((known?.blobs ?? []).map((b) => [sha256Digest(b), b] as const));
  const referrerBlobs = new Set<string>();
  const stored = new Map<string, StoredRow>();
  for (const c of tried) {
    const row = await checkCandidate(client, repository, digest, c, trust, knownBlobs);
    if (c.source === "referrer") referrerBlobs.add(row.layerDigest);
    const recorded = recordedLayer(c, ourLayers);
    const prev = stored.get(row.layerDigest);
    if (!replaces(prev, c, recorded !== null, true)) continue;
    const j: TrustJudgement = judgeTrust({
      verification: row.v,
      repository,
      identities: trust.identities,
      recordedTime: recorded?.time ?? null,
      trustedTime: c.source === "referrer" ? (ourBundles.get(c.artifactDigest) ?? null) : null,
    });
    if (!replaces(prev, c, recorded !== null, j.verdict === "verified")) continue;
    stored.set(row.layerDigest, {
      cosign: c.source === "cosign",
      pinned: recorded !== null,
      verified: j.verdict === "verified",
      upsert: upsertSignature(imageId, row.layerDigest, signatureData(c.position, row, j)),
    });
  }
  const seen = [...stored.keys()];
  const verified = [...stored.values()].filter((s) => s.verified).length;
  const upserts = [...stored.values()].map((s) => s.upsert);
  await reopenReappearedRevocations({ imageId, repository, digest, approvals, bundles, candidates, referrerBlobs });
  // One connection's worth at a time (a sync refreshes many images at once); the last goes with the writes below.
  const lastUpsert = upserts.pop();
  for (const upsert of upserts) await upsert();
  const detail =
    [notTried > 0 ? `${notTried} more signature${notTried === 1 ? " was" : "s were"} not tried (cap ${cap})` : null, sigProblem].filter(Boolean).join("; ") ||
    null;
  // Independent writes (no transaction held them together before either), side by side: the upserted rows are among
  // `seen`, which the delete keeps.
  await Promise.all([
    lastUpsert?.(),
    db.signature.deleteMany({ where: { imageId, layerDigest: { notIn: seen } } }),
    db.signatureRun.upsert({
      where: { imageId },
      create: { imageId, found: ordered.length, tried: tried.length, notTried, cap, detail },
      update: { found: ordered.length, tried: tried.length, notTried, cap, detail, checkedAt: new Date() },
    }),
    db.image.update({ where: { id: imageId }, data: { sigCheckedAt: new Date() } }),
  ]);
  return { found: ordered.length, total: tried.length, verified, notTried };
}

async function readSignatureBlob(client: RegistryClient, repository: string, layer: Descriptor): Promise<{ blob: Buffer | null; problem: string | null }> {
  if (layer.size > MAX_SIGNATURE_BYTES)
    return { blob: null, problem: `the layer is ${layer.size} bytes, over the ${MAX_SIGNATURE_BYTES}-byte limit for a signature; it was not read` };
  try {
    // The verifier checks the digest itself, so a mismatch becomes an "invalid" verdict with its reason.
    return { blob: await client.getBlobUnverified(repository, layer.digest as Digest, MAX_SIGNATURE_BYTES), problem: null };
  } catch (e) {
    if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
    return {
      blob: null,
      problem:
        e.code === "TOO_LARGE"
          ? `the blob is over the ${MAX_SIGNATURE_BYTES}-byte limit for a signature (its descriptor said ${layer.size}); it was not read`
          : `the blob could not be read: ${e.message}`,
    };
  }
}

async function checkCosignLayer(
  client: RegistryClient,
  repository: string,
  digest: Digest,
  layer: Descriptor,
  trust: LoadedTrust,
  knownBlobs: ReadonlyMap<string, Uint8Array>,
) {
  // A blob the caller pushed and whose digest is the layer's is those bytes; the size must agree as the registry's would.
  const mine = knownBlobs.get(layer.digest);
  const { blob, problem } =
    mine && mine.byteLength === layer.size ? { blob: Buffer.from(mine), problem: null } : await readSignatureBlob(client, repository, layer);
  const v = problem
    ? unreadable("cosign", CHECKS.payloadDigest, problem)
    : verifyCosignLayerWithPayload({ layer, blob, imageDigest: digest, material: trust.material });
  return { layerDigest: layer.digest, mediaType: layer.mediaType, annotations: layer.annotations ?? {}, payload: blob, artifactDigest: null, v };
}

async function checkReferrer(client: RegistryClient, repository: string, digest: Digest, artifactDigest: string, kind: SignatureKind, trust: LoadedTrust) {
  const format: SignatureFormat = kind === "notation-signature" ? "notation" : "sigstore-bundle";
  let layer: Descriptor | undefined;
  let annotations: Record<string, string> = {};
  try {
    // getManifest checks the bytes against the digest.
    const m = await client.getManifest(repository, artifactDigest);
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind === "manifest") {
      layer = parsed.manifest.layers[0];
      annotations = parsed.manifest.annotations ?? {};
    }
  } catch (e) {
    if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
    return {
      layerDigest: artifactDigest,
      mediaType: kind,
      annotations,
      payload: null,
      artifactDigest,
      v: unreadable(format, CHECKS.payloadDigest, `the referrer manifest ${artifactDigest} could not be read: ${e.message}`),
    };
  }
  if (!layer)
    return {
      layerDigest: artifactDigest,
      mediaType: kind,
      annotations,
      payload: null,
      artifactDigest,
      v: unreadable(format, CHECKS.payloadDigest, "the referrer manifest has no layer holding the signature"),
    };
  const { blob, problem } = await readSignatureBlob(client, repository, layer);
  const v =
    problem || !blob
      ? unreadable(format, CHECKS.payloadDigest, problem ?? "not read")
      : await verifyReferrerSignature({
          kind,
          layer,
          blob,
          imageDigest: digest,
          material: trust.material,
          manifestAnnotations: annotations,
          thresholds: thresholdsFor(trust, repository),
        });
  return {
    layerDigest: layer.digest,
    mediaType: layer.mediaType,
    annotations: { ...annotations, ...(layer.annotations ?? {}) },
    payload: blob,
    artifactDigest,
    v,
  };
}

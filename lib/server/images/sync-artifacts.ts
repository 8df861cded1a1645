import "server-only";
import { db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { listReferrers, type ReferrersApiMemo } from "../../oci/referrers";
import { classifyArtifact } from "../../oci/artifacts";
import { AppError } from "../../errors";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { reopenReappearedSummaries } from "../approvals/reappeared-summaries";

/** Evidence layers read from the registry are capped: a hostile artifact cannot exhaust the server. */
const MAX_EVIDENCE_LAYER_BYTES = 32 * 1024 * 1024;
const EVIDENCE_KINDS = new Set(["attestation", "sbom", "sigstore-bundle"]);

const MAX_ARTIFACTS_PER_IMAGE = 200;
const SIGNATURE_REFERRER_KINDS = new Set(["sigstore-bundle", "notation-signature"]);

/**
 * Finds the image's accessories (OCI referrers API, referrers tag schema, cosign tags), classifies the new ones
 * and stores them. Known artifacts cost no manifest fetch. Reports whether the cosign `.sig` manifest changed.
 */
type Referrer = Awaited<ReturnType<typeof listReferrers>>[number];

/** What an accessory's manifest says of it (media types, layers, annotations); an unreadable one keeps its descriptor's. */
async function readArtifactManifest(client: RegistryClient, repository: string, d: Referrer) {
  let configMediaType: string | undefined;
  let layerMediaTypes: string[] = [];
  let layerAnnotations: Record<string, string>[] = [];
  let layers: { digest: string; size: number; mediaType: string }[] = [];
  let manifestAnnotations: Record<string, string> = d.annotations ?? {};
  let artifactType = d.artifactType;
  let mediaType = d.mediaType;
  let size = d.size;
  try {
    const m = await client.getManifest(repository, d.digest);
    size = m.bytes.byteLength;
    const p = parseManifest(m.bytes, m.mediaType);
    mediaType = p.mediaType;
    if (p.kind === "manifest") {
      configMediaType = p.manifest.config.mediaType;
      layerMediaTypes = p.manifest.layers.map((l) => l.mediaType);
      layerAnnotations = p.manifest.layers.map((l) => l.annotations ?? {});
      layers = p.manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType }));
      manifestAnnotations = { ...manifestAnnotations, ...(p.manifest.annotations ?? {}) };
      artifactType = artifactType ?? p.manifest.artifactType;
    }
  } catch (e) {
    if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
    // An artifact we can't read is still listed, classified from its descriptor alone.
  }
  return { configMediaType, layerMediaTypes, layerAnnotations, layers, manifestAnnotations, artifactType, mediaType, size };
}

export async function syncArtifacts(opts: {
  client: RegistryClient;
  imageId: string;
  repository: string;
  digest: Digest;
  tags: Set<string>;
  /** The image's stored artifacts, when the caller loaded them for many images at once. */
  known?: { digest: string; source: string; kind: string }[];
  /** What this run has learnt about the registry's referrers API (one probe per run when it has none). */
  referrersApi?: ReferrersApiMemo;
}) {
  const { client, imageId, repository, digest } = opts;
  // The cosign tags always, and at most MAX_ARTIFACTS_PER_IMAGE referrers besides (listReferrers keeps the tags).
  const found = await listReferrers(client, repository, digest, {
    tags: opts.tags,
    maxReferrers: MAX_ARTIFACTS_PER_IMAGE,
    onTruncated: (kept) => console.warn(`[sync] ${repository}@${digest}: more than ${kept} referrers; the first ${kept} are read`),
    ...(opts.referrersApi ? { referrersApi: opts.referrersApi } : {}),
  });
  const known = new Map((opts.known ?? (await db.artifact.findMany({ where: { imageId } }))).map((a) => [a.digest, a]));
  const sigBefore = [...known.values()].find((a) => a.source === "cosign-tag" && a.kind === "signature")?.digest ?? null;
  let sigAfter: string | null = null;
  let evidenceErrors = 0;
  // Sigstore bundles and Notation signatures are signatures too: a new or removed one needs a re-verification.
  let signatureReferrersChanged = false;
  let signatureReferrers = 0;
  const readThisRun = new Set<string>();

  for (const d of found) {
    const prior = known.get(d.digest);
    if (prior) {
      if (prior.source === "cosign-tag" && prior.kind === "signature") sigAfter = d.digest;
      if (SIGNATURE_REFERRER_KINDS.has(prior.kind)) signatureReferrers++;
      continue;
    }
    const { configMediaType, layerMediaTypes, layerAnnotations, layers, manifestAnnotations, artifactType, mediaType, size } = await readArtifactManifest(
      client,
      repository,
      d,
    );
    const c = classifyArtifact({
      artifactType,
      manifestMediaType: mediaType,
      configMediaType,
      layerMediaTypes,
      annotations: manifestAnnotations,
      layerAnnotations,
      source: d.source,
    });
    await db.artifact.createMany({
      skipDuplicates: true,
      data: [
        {
          imageId,
          digest: d.digest,
          mediaType,
          artifactType: artifactType ?? null,
          kind: c.kind,
          predicateType: c.predicateType ?? null,
          source: d.source,
          size,
          annotations: manifestAnnotations,
        },
      ],
    });
    if (d.source === "cosign-tag" && c.kind === "signature") sigAfter = d.digest;
    if (SIGNATURE_REFERRER_KINDS.has(c.kind)) {
      signatureReferrers++;
      signatureReferrersChanged = true;
    }
    // A revoked approval's verification summary pushed back (reappeared-summaries.ts).
    if (d.source === "cosign-tag" || c.kind === "attestation") await reopenReappearedSummaries({ imageId, layerDigests: layers.map((l) => l.digest) });
    if (EVIDENCE_KINDS.has(c.kind)) evidenceErrors += await ingestLayers(client, repository, imageId, d.digest, layers, readThisRun);
  }
  const gone = [...known.keys()].filter((k) => !found.some((f) => f.digest === k));
  if (gone.length) await db.artifact.deleteMany({ where: { imageId, digest: { in: gone } } });
  if (gone.some((g) => SIGNATURE_REFERRER_KINDS.has(known.get(g)!.kind))) signatureReferrersChanged = true;
  return { count: found.length, sigManifestChanged: sigBefore !== sigAfter, signatureReferrersChanged, signatureReferrers, evidenceErrors };
}

/**
 * Reads an attestation / SBOM / Sigstore bundle artifact's layers and stores them as evidence (source
 * "registry"). A layer that isn't usable evidence is skipped and counted, never failing the sync.
 */
async function ingestLayers(
  client: RegistryClient,
  repository: string,
  imageId: string,
  artifactDigest: string,
  layers: { digest: string; size: number; mediaType: string }[],
  readThisRun: Set<string>,
): Promise<number> {
  let errors = 0;
  const candidates = layers.slice(0, 50);
  // A layer already stored as this image's evidence (its content digest is the layer's: the bytes are the blob), or
  // already read in this sync, is not downloaded again: fifty layers of one blob in each of many artifacts, listed
  // again whenever the referrers index is switched back, made a sync fetch the same blob a thousand times.
  const stored = new Set(
    (
      await db.evidenceDocument.findMany({
        where: { imageId, contentDigest: { in: [...new Set(candidates.map((l) => l.digest))] } },
        select: { contentDigest: true },
      })
    ).map((d) => d.contentDigest),
  );
  for (const l of candidates) {
    // A blob is read one way or the other (a bundle's envelope, or the bytes themselves), and what it yields depends
    // only on its bytes and that way: a decoy naming the same blob as something else, or with a size it does not
    // have, must not stand in for the real one (found by review: it made the real SBOM's layer be skipped for good).
    const asBundle = l.mediaType.startsWith("application/vnd.dev.sigstore.bundle");
    const key = `${asBundle ? "bundle" : "raw"}:${l.digest}`;
    if ((!asBundle && stored.has(l.digest)) || readThisRun.has(key)) continue;
    if (l.size > MAX_EVIDENCE_LAYER_BYTES) {
      errors++;
      continue;
    }
    readThisRun.add(key);
    try {
      let bytes = await client.getBlob(repository, l.digest as Digest, MAX_EVIDENCE_LAYER_BYTES);
      if (asBundle) {
        // A Sigstore bundle carries the DSSE envelope; its certificate / tlog checks belong to signature trust.
        const bundle = JSON.parse(bytes.toString("utf8")) as { dsseEnvelope?: unknown };
        if (!bundle.dsseEnvelope) continue;
        bytes = Buffer.from(JSON.stringify(bundle.dsseEnvelope));
      }
      await ingestEvidence({ actor: { kind: "system", label: "sync" }, imageId, bytes, source: "registry", artifactDigest });
    } catch (e) {
      if (e instanceof OciError && e.code === "UNAVAILABLE") throw e;
      if (!(e instanceof OciError) && !(e instanceof AppError) && !(e instanceof SyntaxError)) throw e;
      errors++;
    }
  }
  return errors;
}

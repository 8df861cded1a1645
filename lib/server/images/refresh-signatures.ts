import "server-only";
import { bytes, db } from "../../db";
import type { RegistryClient } from "../../oci/client";
import { OciError, type Digest } from "../../oci/digest";
import { parseManifest, type Descriptor } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { verifyCosignLayer, type TrustedKey } from "../../signing/cosign";

/** Cap on the layers verified per image, so a hostile `.sig` manifest cannot exhaust the server. */
export const MAX_SIGNATURE_LAYERS = 100;
const MAX_PAYLOAD_BYTES = 64 * 1024;

/**
 * Re-reads the image's cosign `.sig` manifest and stores every layer with its verdict.
 * Layers Imprimatur recorded itself (its approvals) are verified first, so junk layers can't crowd them out.
 */
export async function refreshSignatures(opts: {
  client: RegistryClient;
  imageId: string;
  repository: string;
  digest: Digest;
  trustedKeys: readonly TrustedKey[];
}): Promise<{ total: number; verified: number }> {
  const { client, imageId, repository, digest, trustedKeys } = opts;
  let layers: Descriptor[] = [];
  try {
    const m = await client.getManifest(repository, cosignTag(digest, "sig"));
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind === "manifest") layers = parsed.manifest.layers;
  } catch (e) {
    if (!(e instanceof OciError && e.code === "NOT_FOUND")) throw e;
  }
  const ours = new Set(
    (await db.approval.findMany({ where: { imageId }, select: { layerDigest: true } })).map((a) => a.layerDigest),
  );
  const ordered = layers
    .map((layer, position) => ({ layer, position }))
    .sort((a, b) => Number(ours.has(b.layer.digest)) - Number(ours.has(a.layer.digest)) || a.position - b.position)
    .slice(0, MAX_SIGNATURE_LAYERS);

  let verified = 0;
  const seen: string[] = [];
  for (const { layer, position } of ordered) {
    if (seen.includes(layer.digest)) continue;
    seen.push(layer.digest);
    let blob: Buffer | null = null;
    try {
      // The verifier checks the digest itself, so a mismatch becomes an "invalid" verdict with its reason.
      if (layer.size <= MAX_PAYLOAD_BYTES) blob = await client.getBlobUnverified(repository, layer.digest as Digest, MAX_PAYLOAD_BYTES);
    } catch (e) {
      if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
    }
    const v = verifyCosignLayer({ layer, blob, imageDigest: digest, trustedKeys });
    if (v.verdict === "verified") verified++;
    const data = {
      position,
      mediaType: layer.mediaType,
      annotations: layer.annotations ?? {},
      payload: blob ? bytes(blob) : null,
      dockerReference: v.dockerReference ?? null,
      payloadDigest: v.payloadDigest ?? null,
      optional: (v.optional ?? undefined) as object | undefined,
      verdict: v.verdict,
      detail: v.detail,
      keyName: v.key?.name ?? null,
      keyFingerprint: v.key?.fingerprint ?? null,
      checkedAt: new Date(),
    };
    await db.signature.upsert({
      where: { imageId_layerDigest: { imageId, layerDigest: layer.digest } },
      create: { imageId, layerDigest: layer.digest, ...data },
      update: data,
    });
  }
  await db.signature.deleteMany({ where: { imageId, layerDigest: { notIn: seen } } });
  await db.image.update({ where: { id: imageId }, data: { sigCheckedAt: new Date() } });
  return { total: seen.length, verified };
}

import "server-only";
import type { RegistryClient } from "../../oci/client";
import { OciError } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import type { Candidate } from "./signature-candidates";

/**
 * A revoked bundle attached again in a new referrer manifest (`oras attach` of the saved bundle) is recognised by its
 * blob, which only reading that manifest tells. Verified in cap order, it was read only if it came before the cap:
 * behind enough junk signatures it was never read, so never reopened nor removed. When the image has a removed
 * bundle, each referrer candidate that is not ours is read (its manifest only) and, if it wraps such a blob, marked
 * ours, so it is verified (and its signature row found by the removal) whatever stands in front of it.
 */
/** The layer digests of referrer manifests read by markRewrappedBundles, by manifest digest (immutable), oldest out first. */
const referrerLayers = new Map<string, readonly string[]>();
const REFERRER_LAYERS_MEMO = 10_000;

export async function markRewrappedBundles(
  client: RegistryClient,
  repository: string,
  candidates: Candidate[],
  revokedBlobs: ReadonlySet<string>,
): Promise<Candidate[]> {
  if (revokedBlobs.size === 0) return candidates;
  const out: Candidate[] = [];
  for (const c of candidates) {
    if (c.source !== "referrer" || c.ours) {
      out.push(c);
      continue;
    }
    let layers = referrerLayers.get(c.artifactDigest);
    if (!layers) {
      try {
        const m = await client.getManifest(repository, c.artifactDigest);
        const p = parseManifest(m.bytes, m.mediaType);
        layers = p.kind === "manifest" ? p.manifest.layers.map((l) => l.digest) : [];
        // A manifest's digest names its bytes: what it holds never changes, so it is read once per process. Only
        // what was read: a manifest listed before it was pushed (or a passing refusal) is asked again next time.
        if (referrerLayers.size >= REFERRER_LAYERS_MEMO) referrerLayers.delete(referrerLayers.keys().next().value!);
        referrerLayers.set(c.artifactDigest, layers);
      } catch (e) {
        if (!(e instanceof OciError) || e.code === "UNAVAILABLE") throw e;
        layers = [];
      }
    }
    out.push(layers.some((l) => revokedBlobs.has(l)) ? { ...c, ours: true } : c);
  }
  return out;
}

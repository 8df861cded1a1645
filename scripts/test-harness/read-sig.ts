import type { RegistryClient } from "../../lib/oci/client";
import type { Digest } from "../../lib/oci/digest";
import { parseManifest, type ImageManifest } from "../../lib/oci/manifest";
import { cosignTag } from "../../lib/oci/reference";

/** An image's cosign `.sig` manifest and its config, as the registry holds them (tests that rewrite `.sig` as an attacker would). */
export async function readSig(client: RegistryClient, repo: string, digest: Digest): Promise<{ manifest: ImageManifest; config: Record<string, unknown> }> {
  const m = await client.getManifest(repo, cosignTag(digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("sig is not a manifest");
  return { manifest: p.manifest, config: JSON.parse((await client.getBlob(repo, p.manifest.config.digest as Digest)).toString("utf8")) };
}

import "server-only";
import { db, type Tx } from "../../db";
import { baseReference, pickBase } from "./signature-chain";

export interface BaseImageFact {
  state: "verified" | "unverified" | "unknown-base" | "no-base";
  name: string | null;
  digest?: string | null;
  /** Where the base image is in the inventory, for a link. */
  repository?: string | null;
  registry?: string | null;
  detail: string;
}

/**
 * The image's base, found through the OCI `org.opencontainers.image.base.digest` / `.base.name` annotations
 * (on the manifest, or on its index), and whether a signature on it verifies under a trust identity whose role is
 * publisher. A stage or team signature does not count as the publisher's.
 */
export async function findBaseImage(client: Tx | typeof db, imageId: string): Promise<BaseImageFact> {
  const image = await client.image.findUniqueOrThrow({ where: { id: imageId }, select: { manifest: true, parentDigest: true, repositoryId: true } });
  const index = image.parentDigest
    ? await client.image.findUnique({ where: { repositoryId_digest: { repositoryId: image.repositoryId, digest: image.parentDigest } }, select: { manifest: true } })
    : null;
  const { digest, name } = baseReference(image.manifest, index?.manifest);
  if (!digest) return { state: "no-base", name, digest: null, detail: name ? `base ${name} is named but its digest is not annotated (org.opencontainers.image.base.digest)` : "the image does not annotate a base image" };
  const candidates = await client.image.findMany({
    where: { digest, deletedAt: null },
    select: { id: true, repository: { select: { name: true, registry: { select: { name: true } } } }, signatures: { select: { verdict: true, keyName: true, role: true, trustedBy: true } } },
    take: 20,
  });
  const label = `${name ?? "base image"}@${digest.slice(0, 19)}…`;
  const first = pickBase(candidates, name);
  if (!first) return { state: "unknown-base", name, digest, detail: `${label} is not in Imprimatur's inventory, so its signatures cannot be checked` };
  for (const c of [first, ...candidates.filter((c) => c !== first)]) {
    const pub = c.signatures.find((s) => s.verdict === "verified" && s.role === "publisher");
    if (pub) return { state: "verified", name, digest, repository: c.repository.name, registry: c.repository.registry.name, detail: `${label}: publisher signature verified by ${pub.trustedBy ?? pub.keyName}` };
  }
  return { state: "unverified", name, digest, repository: first.repository.name, registry: first.repository.registry.name, detail: `${label}: no verified publisher signature (${first.signatures.length} signature${first.signatures.length === 1 ? "" : "s"} found)` };
}

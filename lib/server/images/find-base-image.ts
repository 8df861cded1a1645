import "server-only";
import { db, type Tx } from "../../db";

export const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";
export const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";

export interface BaseImageFact {
  state: "verified" | "unverified" | "unknown-base" | "no-base";
  name: string | null;
  digest?: string | null;
  /** Where the base image is in the inventory, for a link. */
  repository?: string | null;
  registry?: string | null;
  detail: string;
}

function annotationsOf(manifest: Uint8Array): Record<string, string> {
  try {
    const m = JSON.parse(Buffer.from(manifest).toString("utf8")) as { annotations?: unknown };
    if (m.annotations && typeof m.annotations === "object" && !Array.isArray(m.annotations)) {
      return Object.fromEntries(Object.entries(m.annotations as Record<string, unknown>).filter(([, v]) => typeof v === "string")) as Record<string, string>;
    }
  } catch {
    // The manifest was verified against its digest when stored; unparseable JSON simply has no annotations.
  }
  return {};
}

/**
 * The image's base, found through the OCI `org.opencontainers.image.base.digest` / `.base.name` annotations
 * (on the manifest, or on its index), and whether a signature on it verifies under a trust identity whose role is
 * publisher. A stage or team signature does not count as the publisher's.
 */
export async function findBaseImage(client: Tx | typeof db, imageId: string): Promise<BaseImageFact> {
  const image = await client.image.findUniqueOrThrow({ where: { id: imageId }, select: { manifest: true, parentDigest: true, repositoryId: true } });
  let ann = annotationsOf(image.manifest);
  if (!ann[BASE_DIGEST_ANNOTATION] && image.parentDigest) {
    const parent = await client.image.findUnique({ where: { repositoryId_digest: { repositoryId: image.repositoryId, digest: image.parentDigest } }, select: { manifest: true } });
    if (parent) ann = annotationsOf(parent.manifest);
  }
  const digest = ann[BASE_DIGEST_ANNOTATION] ?? null;
  const name = ann[BASE_NAME_ANNOTATION] ?? null;
  if (!digest) return { state: "no-base", name, digest: null, detail: name ? `base ${name} is named but its digest is not annotated (${BASE_DIGEST_ANNOTATION})` : "the image does not annotate a base image" };
  const candidates = await client.image.findMany({
    where: { digest, deletedAt: null },
    select: { id: true, repository: { select: { name: true, registry: { select: { name: true } } } }, signatures: { select: { verdict: true, keyName: true, role: true, trustedBy: true } } },
    take: 20,
  });
  const label = `${name ?? "base image"}@${digest.slice(0, 19)}…`;
  if (candidates.length === 0) return { state: "unknown-base", name, digest, detail: `${label} is not in Imprimatur's inventory, so its signatures cannot be checked` };
  const byName = name ? candidates.find((c) => name.includes(`/${c.repository.name}`) || name.startsWith(`${c.repository.name}:`) || name === c.repository.name) : undefined;
  const ordered = byName ? [byName, ...candidates.filter((c) => c !== byName)] : candidates;
  for (const c of ordered) {
    const pub = c.signatures.find((s) => s.verdict === "verified" && s.role === "publisher");
    if (pub) return { state: "verified", name, digest, repository: c.repository.name, registry: c.repository.registry.name, detail: `${label}: publisher signature verified by ${pub.trustedBy ?? pub.keyName}` };
  }
  const c = ordered[0]!;
  return { state: "unverified", name, digest, repository: c.repository.name, registry: c.repository.registry.name, detail: `${label}: no verified publisher signature (${c.signatures.length} signature${c.signatures.length === 1 ? "" : "s"} found)` };
}

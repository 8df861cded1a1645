import "server-only";
import { type db, type Tx } from "../../db";
import { baseReference, pickBase } from "./signature-chain";

export interface BaseImageFact {
  /** layers-mismatch: the annotation names a base whose layers the image does not start with (a claim, not a proof). */
  state: "verified" | "unverified" | "unknown-base" | "no-base" | "layers-mismatch";
  name: string | null;
  digest?: string | null;
  /** Where the base image is in the inventory, for a link. */
  repository?: string | null;
  registry?: string | null;
  detail: string;
}

type ImageLayers = { repositoryId: string; diffIds: string[]; os: string | null; architecture: string | null; variant: string | null };

/** The candidates whose layers (their platform manifest's, for a multi-platform base) the image's layers start with. */
async function provenBases<C extends { repositoryId: string; diffIds: string[]; platforms: unknown }>(
  client: Tx | typeof db,
  image: ImageLayers,
  digest: string,
  candidates: C[],
): Promise<C[]> {
  const proven: C[] = [];
  for (const c of candidates) {
    let baseIds = c.diffIds;
    if (c.platforms !== null) {
      // A multi-platform base: its platform manifest for this image's os/architecture/variant.
      const child = await client.image.findFirst({
        where: {
          repositoryId: c.repositoryId,
          parentDigest: digest,
          os: image.os,
          architecture: image.architecture,
          ...(image.variant ? { variant: image.variant } : {}),
        },
        select: { diffIds: true },
      });
      baseIds = child?.diffIds ?? [];
    }
    if (baseIds.length > 0 && baseIds.length <= image.diffIds.length && baseIds.every((d, i) => image.diffIds[i] === d)) proven.push(c);
  }
  return proven;
}

/**
 * The image's base, found through the OCI `org.opencontainers.image.base.digest` / `.base.name` annotations
 * (on the manifest, or on its index), and whether a signature on it verifies under a trust identity whose role is
 * publisher. A stage or team signature does not count as the publisher's.
 *
 * The annotation is only what the builder wrote, so the claim must be proven: the image's layer diff IDs
 * (`rootfs.diff_ids` of its config) must start with the base's (for a multi-platform base, the base platform
 * manifest of the same os/architecture). Otherwise the base is "layers-mismatch", whatever signs it.
 */
export async function findBaseImage(client: Tx | typeof db, imageId: string): Promise<BaseImageFact> {
  const image = await client.image.findUniqueOrThrow({
    where: { id: imageId },
    select: { manifest: true, parentDigest: true, repositoryId: true, diffIds: true, os: true, architecture: true, variant: true },
  });
  const index = image.parentDigest
    ? await client.image.findUnique({
        where: { repositoryId_digest: { repositoryId: image.repositoryId, digest: image.parentDigest } },
        select: { manifest: true },
      })
    : null;
  const { digest, name } = baseReference(image.manifest, index?.manifest);
  if (!digest)
    return {
      state: "no-base",
      name,
      digest: null,
      detail: name
        ? `base ${name} is named but its digest is not annotated (org.opencontainers.image.base.digest)`
        : "the image does not annotate a base image",
    };
  const candidates = await client.image.findMany({
    where: { digest, deletedAt: null },
    select: {
      id: true,
      repositoryId: true,
      diffIds: true,
      platforms: true,
      repository: { select: { name: true, registry: { select: { name: true } } } },
      signatures: { select: { verdict: true, keyName: true, role: true, trustedBy: true } },
    },
    take: 20,
  });
  const label = `${name ?? "base image"}@${digest.slice(0, 19)}…`;
  const first = pickBase(candidates, name);
  if (!first) return { state: "unknown-base", name, digest, detail: `${label} is not in Imprimatur's inventory, so its signatures cannot be checked` };
  const shown = name ?? digest;
  if (!image.diffIds.length) {
    return {
      state: "layers-mismatch",
      name,
      digest,
      repository: first.repository.name,
      registry: first.repository.registry.name,
      detail: `claims base ${shown}, but the image's own layers are not known (no rootfs.diff_ids in its config), so the claim cannot be proven`,
    };
  }
  // Only bases whose layers the image really starts with may vouch with their publisher signature.
  const proven = await provenBases(client, image, digest, candidates);
  if (!proven.length) {
    return {
      state: "layers-mismatch",
      name,
      digest,
      repository: first.repository.name,
      registry: first.repository.registry.name,
      detail: `claims base ${shown}, but its layers do not start with ${shown}'s`,
    };
  }
  const firstProven = proven.includes(first) ? first : proven[0]!;
  for (const c of [firstProven, ...proven.filter((c) => c !== firstProven)]) {
    const pub = c.signatures.find((s) => s.verdict === "verified" && s.role === "publisher");
    if (pub)
      return {
        state: "verified",
        name,
        digest,
        repository: c.repository.name,
        registry: c.repository.registry.name,
        detail: `${label}: publisher signature verified by ${pub.trustedBy ?? pub.keyName}`,
      };
  }
  return {
    state: "unverified",
    name,
    digest,
    repository: firstProven.repository.name,
    registry: firstProven.repository.registry.name,
    detail: `${label}: layers match, but no verified publisher signature (${firstProven.signatures.length} signature${firstProven.signatures.length === 1 ? "" : "s"} found)`,
  };
}

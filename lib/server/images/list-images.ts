import "server-only";
import { db } from "../../db";
import type { Platform } from "../../oci/manifest";
import type { Actor } from "../actor";
import { stageStatuses } from "./stage-status";

export interface ListImagesOptions {
  actor: Actor;
  registry?: string | null;
  /** Case-insensitive substring of the repository name. */
  q?: string;
}

/** Every tagged manifest, grouped by repository, with its signature counts and current stage. */
export async function listImages({ actor: _actor, registry, q }: ListImagesOptions) {
  const [stages, repos] = await Promise.all([
    db.stage.findMany({ orderBy: { position: "asc" } }),
    db.repository.findMany({
      where: { ...(registry ? { registry: { name: registry } } : {}), ...(q ? { name: { contains: q, mode: "insensitive" as const } } : {}) },
      orderBy: [{ registry: { name: "asc" } }, { name: "asc" }],
      include: {
        registry: { select: { name: true } },
        tags: { orderBy: { name: "asc" } },
        images: {
          where: { parentDigest: null },
          select: {
            id: true,
            digest: true,
            mediaType: true,
            size: true,
            os: true,
            architecture: true,
            variant: true,
            platforms: true,
            lastSeenAt: true,
            signatures: { select: { layerDigest: true, verdict: true, keyName: true } },
            approvals: { select: { stageId: true, status: true, layerDigest: true, createdAt: true, signedAt: true, approver: { select: { name: true } } } },
          },
        },
      },
    }),
  ]);
  return repos.map((repo) => ({
    registry: repo.registry.name,
    repository: repo.name,
    images: repo.images
      .map((img) => {
        const { current } = stageStatuses(stages, img.approvals, img.signatures);
        const platforms = (img.platforms as Platform[] | null) ?? (img.os ? [{ digest: img.digest, mediaType: img.mediaType, size: img.size, os: img.os, architecture: img.architecture ?? "", ...(img.variant ? { variant: img.variant } : {}) }] : []);
        return {
          digest: img.digest,
          tags: repo.tags.filter((t) => t.digest === img.digest).map((t) => t.name),
          mediaType: img.mediaType,
          size: img.size,
          platforms: platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`),
          signatures: img.signatures.length,
          verifiedSignatures: img.signatures.filter((s) => s.verdict === "verified").length,
          currentStage: current,
          pendingSignatures: img.approvals.filter((a) => a.status === "signing").length,
          lastSeenAt: img.lastSeenAt.toISOString(),
        };
      })
      .sort((a, b) => (b.tags.length ? 1 : 0) - (a.tags.length ? 1 : 0) || a.digest.localeCompare(b.digest)),
  }));
}

import "server-only";
import { findBaseImage } from "./find-base-image";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Digest } from "../../oci/digest";
import { parseManifest, type Platform } from "../../oci/manifest";
import type { Actor } from "../actor";
import { hasRole } from "../actor";
import { resolveRegistry } from "../registries/resolve-registry";
import { readStageDecisions } from "./read-stage-decisions";
import { baseReference, chainRank, compareRank, pickBase, serializeSignature } from "./signature-chain";
import { imageLabelsColumn, imagePlatformsColumn, readDisplayJson } from "../json-columns";

export interface GetImageOptions {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
}

/** The image row with its tags, signatures, artifacts and approvals (null: not in the inventory). */
function loadImage(registryId: string, repository: string, digest: Digest) {
  return db.image.findFirst({
    where: { digest, repository: { name: repository, registryId } },
    include: {
      repository: { include: { tags: { where: { digest } } } },
      signatures: { orderBy: { position: "asc" } },
      artifacts: { orderBy: { discoveredAt: "asc" } },
      approvals: {
        orderBy: { createdAt: "asc" },
        include: {
          approver: { select: { name: true, id: true } },
          stage: { select: { name: true } },
          signingKey: { select: { name: true, fingerprint: true, revokedAt: true, revocationReason: true } },
        },
      },
    },
  });
}

type ImageRow = NonNullable<Awaited<ReturnType<typeof loadImage>>>;

interface BaseImageView {
  digest: string | null;
  name: string | null;
  inInventory: boolean;
  registry: string | null;
  repository: string | null;
  signatures: ReturnType<typeof serializeSignature>[];
  detail: string;
  /** false: the image's layers do not start with the claimed base's, so the claim is not proven (null: not checked). */
  layersProven?: boolean | null;
}

/**
 * The base image, named by the OCI base annotations on the manifest (or its index): its own signatures, verified
 * when it is in the inventory, open the chain.
 */
async function describeBase({
  imageId,
  manifest,
  parentManifest,
  stagePositions,
}: {
  imageId: string;
  manifest: Uint8Array;
  parentManifest: Uint8Array | null;
  stagePositions: Map<string, number>;
}) {
  const ref = baseReference(manifest, parentManifest);
  let base: BaseImageView | null = null;
  if (ref.digest || ref.name) {
    const candidates = ref.digest
      ? await db.image.findMany({
          where: { digest: ref.digest },
          include: { repository: { include: { registry: { select: { name: true } } } }, signatures: { orderBy: { position: "asc" } } },
          take: 20,
        })
      : [];
    const b = pickBase(candidates, ref.name);
    base = b
      ? {
          digest: ref.digest,
          name: ref.name,
          inInventory: true,
          registry: b.repository.registry.name,
          repository: b.repository.name,
          signatures: b.signatures.sort((x, y) => compareRank(chainRank(x, stagePositions), chainRank(y, stagePositions))).map((s) => serializeSignature(s)),
          detail: `${b.repository.name}@${b.digest.slice(0, 19)}…`,
        }
      : {
          digest: ref.digest,
          name: ref.name,
          inInventory: false,
          registry: null,
          repository: null,
          signatures: [],
          detail: ref.digest
            ? `${ref.name ?? "the base image"} (${ref.digest.slice(0, 19)}…) is not in Imprimatur's inventory, so its signatures cannot be checked`
            : `${ref.name} is named without a digest (${"org.opencontainers.image.base.digest"}), so it cannot be identified`,
        };
  }
  if (base?.inInventory) {
    // The annotation is the builder's claim; the base-image gate's proof (layer diff IDs) decides what it is worth.
    const fact = await findBaseImage(db, imageId);
    base = fact.state === "layers-mismatch" ? { ...base, layersProven: false, detail: fact.detail } : { ...base, layersProven: true };
  }
  return base;
}

/** The approval's trusted time and its source, as the database defines them (generated columns trusted_at / trusted_by). */
function trustedTime(a: ImageRow["approvals"][number]): { at: Date; by: "tsa" | "record" } {
  if (!a.trustedAt) throw new Error(`approval ${a.id} has no trusted_at (the generated column is missing)`);
  return { at: a.trustedAt, by: a.trustedBy === "tsa" ? "tsa" : "record" };
}

/** An approval as the image page shows it: who, when (trusted time), its revocation, and its key's compromise. */
function serializeApproval(a: ImageRow["approvals"][number]) {
  return {
    id: a.id,
    stage: a.stage.name,
    approver: a.approver.name,
    comment: a.comment,
    status: a.status,
    createdAt: a.createdAt.toISOString(),
    signedAt: a.signedAt?.toISOString() ?? null,
    lastError: a.lastError,
    key: { name: a.signingKey.name, fingerprint: a.signingKey.fingerprint },
    layerDigest: a.layerDigest,
    // The time revocation and expiry are decided on: the TSA's (RFC 3161) when the signature has a token, else ours.
    trustedTime: ((t) => ({ at: t.at.toISOString(), by: t.by, tsa: t.by === "tsa" ? a.timestampBy : null }))(trustedTime(a)),
    revocation: a.revokedAt
      ? {
          revokedAt: a.revokedAt.toISOString(),
          revokedBy: a.revokedBy,
          reason: a.revocationReason,
          source: a.revocationSource,
          state: a.revocationState,
          error: a.revocationError,
        }
      : null,
    // When the signing key was revoked (a compromise): whether this signature was made before or after it.
    keyCompromise: a.signingKey.revokedAt
      ? ((t) => ({
          effectiveAt: a.signingKey.revokedAt!.toISOString(),
          reason: a.signingKey.revocationReason,
          madeBefore: t.at < a.signingKey.revokedAt!,
          explanation:
            t.at < a.signingKey.revokedAt!
              ? `signed ${t.at.toISOString()} (${t.by === "tsa" ? "time trusted by the TSA" : "Imprimatur's record"}), before key ${a.signingKey.name} was compromised (${a.signingKey.revokedAt!.toISOString()}): still valid`
              : `signed ${t.at.toISOString()} (${t.by === "tsa" ? "time trusted by the TSA" : "Imprimatur's record"}), at or after key ${a.signingKey.name} was compromised (${a.signingKey.revokedAt!.toISOString()}): revoked`,
        }))(trustedTime(a))
      : null,
  };
}

/** The parsed manifest as the page shows it: config and layers, an index's platforms, or unknown. */
/** Display only: the labels and platforms that parse, and the paths of what did not ("labels.maintainer", "platforms[1]"). */
function displayColumns(img: Pick<ImageRow, "id" | "labels" | "platforms">) {
  const labels = img.labels === null ? null : readDisplayJson(imageLabelsColumn, img.labels, { table: "images", column: "labels", id: img.id });
  const platforms = img.platforms === null ? null : readDisplayJson(imagePlatformsColumn, img.platforms, { table: "images", column: "platforms", id: img.id });
  const unreadable = [...(labels?.unreadable ?? []).map((p) => `labels: ${p}`), ...(platforms?.unreadable ?? []).map((p) => `platforms: ${p}`)];
  return { labels: labels?.value ?? {}, platforms: platforms?.value ?? [], unreadable };
}

function manifestView(parsed: ReturnType<typeof parseManifest>, platforms: Platform[]) {
  return parsed.kind === "manifest"
    ? {
        kind: "manifest" as const,
        config: parsed.manifest.config,
        layers: parsed.manifest.layers,
        annotations: parsed.manifest.annotations ?? {},
        subject: parsed.manifest.subject ?? null,
      }
    : parsed.kind === "index"
      ? { kind: "index" as const, platforms, annotations: parsed.index.annotations ?? {} }
      : { kind: "unknown" as const, annotations: {} as Record<string, string> };
}

/** One image by registry + repository + digest: manifest, signature chain with verdicts, stages, approvals. */
type LoadedImage = NonNullable<Awaited<ReturnType<typeof loadImage>>>;

/** The image's signatures as a chain: publisher, team, then the stages in order; what vouches for nothing comes last. */
function signatureChain(img: LoadedImage, stagePositions: Map<string, number>) {
  const ourLayers = new Map(img.approvals.map((a) => [a.layerDigest, a]));
  return img.signatures
    .map((s) => {
      const a = ourLayers.get(s.layerDigest);
      return { s, a: a ? { id: a.id, stage: a.stage.name } : null };
    })
    .sort((x, y) => compareRank(chainRank(x.s, stagePositions, x.a?.stage), chainRank(y.s, stagePositions, y.a?.stage)))
    .map(({ s, a }) => serializeSignature(s, a));
}

function artifactView(a: LoadedImage["artifacts"][number]) {
  return {
    digest: a.digest,
    kind: a.kind,
    predicateType: a.predicateType,
    artifactType: a.artifactType,
    mediaType: a.mediaType,
    source: a.source,
    size: a.size,
    discoveredAt: a.discoveredAt.toISOString(),
  };
}

export async function getImage({ actor, registry, repository, digest }: GetImageOptions) {
  const reg = await resolveRegistry(registry);
  const img = await loadImage(reg.id, repository, digest);
  if (!img) throw new AppError("NOT_FOUND", `no image ${repository}@${digest} in registry ${reg.name} (run a sync if it was pushed recently)`);
  const stages = await db.stage.findMany({ orderBy: { position: "asc" } });
  // Every observed move of a tag onto or away from this digest.
  const tagHistory = await db.tagEvent.findMany({
    where: { repositoryId: img.repositoryId, OR: [{ fromDigest: digest }, { toDigest: digest }] },
    orderBy: { seenAt: "desc" },
    take: 200,
  });

  // The approvals that cover a platform manifest are those of its index: cosign signs the index digest.
  const parent = img.parentDigest
    ? await db.image.findFirst({
        where: { digest: img.parentDigest, repositoryId: img.repositoryId },
        select: { id: true, digest: true, manifest: true },
      })
    : null;
  // Whether each stage is passed, and why: decided in SQL (stage_decisions), for the image and for its index.
  const decisions = await readStageDecisions(db, { imageIds: [img.id, ...(parent ? [parent.id] : [])] });
  const own = decisions.get(img.id)!;
  const inherited = parent ? decisions.get(parent.id)! : null;

  const parsed = parseManifest(img.manifest, img.mediaType);
  const stagePositions = new Map(stages.map((s) => [s.name, s.position]));
  const chain = signatureChain(img, stagePositions);
  const run = await db.signatureRun.findUnique({ where: { imageId: img.id } });
  // Re-evaluation: approved stages whose gates no longer hold (a platform manifest shares its index's).
  const risks = await db.stageRisk.findMany({ where: { imageId: { in: [img.id, ...(parent ? [parent.id] : [])] } } });
  const atRisk = (imageId: string, stageName: string) => {
    const st = stages.find((s) => s.name === stageName);
    const r = st && risks.find((x) => x.imageId === imageId && x.stageId === st.id);
    return r ? { since: r.since.toISOString(), reasons: r.reasons, revokeAt: r.revokeAt?.toISOString() ?? null, onRegression: st.onRegression } : null;
  };

  // The base image, named by the OCI base annotations on the manifest (or its index): its own signatures, verified
  // when it is in the inventory, open the chain.
  const base = await describeBase({ imageId: img.id, manifest: img.manifest, parentManifest: parent?.manifest ?? null, stagePositions });
  const stored = displayColumns(img);
  return {
    id: img.id,
    registry: reg.name,
    repository,
    digest: img.digest,
    mediaType: img.mediaType,
    size: img.size,
    tags: img.repository.tags.map((t) => ({ name: t.name, updatedAt: t.updatedAt.toISOString() })),
    parentDigest: img.parentDigest,
    deletedAt: img.deletedAt?.toISOString() ?? null,
    configCreated: img.configCreated?.toISOString() ?? null,
    labels: stored.labels,
    /** Stored JSON entries that could not be read and are not shown (display only; see lib/server/json-columns.ts). */
    unreadable: stored.unreadable,
    tagHistory: tagHistory.map((e) => ({
      tag: e.tag,
      from: e.fromDigest,
      to: e.toDigest,
      seenAt: e.seenAt.toISOString(),
      // A move away from this digest after it was approved: the tag no longer means what was approved.
      movedAfterApproval: e.fromDigest === digest && img.approvals.some((a) => a.status === "signed" && a.createdAt < e.seenAt),
    })),
    artifacts: img.artifacts.map(artifactView),
    platform: img.os ? `${img.os}/${img.architecture ?? ""}${img.variant ? `/${img.variant}` : ""}` : null,
    manifest: manifestView(parsed, stored.platforms),
    rawManifest: Buffer.from(img.manifest).toString("utf8"),
    // The chain as a story: publisher, team (build), then the stages in order; what vouches for nothing comes last.
    signatures: chain,
    signatureRun: run
      ? { found: run.found, tried: run.tried, notTried: run.notTried, cap: run.cap, detail: run.detail, checkedAt: run.checkedAt.toISOString() }
      : null,
    base,
    sigCheckedAt: img.sigCheckedAt?.toISOString() ?? null,
    stages: own.statuses.map((st) => ({ ...st, atRisk: atRisk(img.id, st.stage) })),
    currentStage: own.current,
    coveredBy:
      parent && inherited
        ? {
            indexDigest: parent.digest,
            stages: inherited.statuses.map((st) => ({ ...st, atRisk: atRisk(parent.id, st.stage) })),
            currentStage: inherited.current,
          }
        : null,
    approvals: img.approvals.map(serializeApproval),
    canRevoke: actor.kind === "user" && hasRole(actor, ["reviewer", "admin"]),
    canApprove: hasRole(actor, ["reviewer", "admin"]) && actor.kind === "user" && !img.parentDigest,
  };
}

export type ImageDetail = Awaited<ReturnType<typeof getImage>>;

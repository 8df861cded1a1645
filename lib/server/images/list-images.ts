import "server-only";
import { z } from "zod";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import type { Platform } from "../../oci/manifest";
import type { Actor } from "../actor";
import { stageStatuses } from "./stage-status";
import { baseReference, type ChainLink } from "./signature-chain";
import { severitySummaries } from "../evidence/get-image-evidence";

export const listImagesQuery = z.object({
  registry: z.string().max(100).optional(),
  /** Substring of the repository name. */
  repository: z.string().max(255).optional(),
  /** Substring of a tag pointing at the image. */
  tag: z.string().max(128).optional(),
  /** Digest prefix, with or without "sha256:". */
  digest: z.string().regex(/^(sha256:)?[a-f0-9]{1,64}$/, "must be a hex digest prefix").optional(),
  signed: z.enum(["any", "signed", "verified", "unsigned"]).default("any"),
  /** Images that passed this stage, or "none" for images that passed no stage. */
  stage: z.string().max(64).optional(),
  deleted: z.enum(["hide", "show", "only"]).default("hide"),
  /** "1": only images with an approved stage whose gates no longer hold (see lib/server/reevaluation). */
  atRisk: z.enum(["0", "1"]).optional(),
  sort: z.enum(["repository", "seen", "created"]).default("repository"),
  dir: z.enum(["asc", "desc"]).default("asc"),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListImagesQuery = z.infer<typeof listImagesQuery>;

export function parseListImagesQuery(params: URLSearchParams | Record<string, string | undefined>): ListImagesQuery {
  const obj = params instanceof URLSearchParams ? Object.fromEntries(params) : params;
  const clean = Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && v !== ""));
  const r = listImagesQuery.safeParse(clean);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AppError("INVALID_INPUT", `${i.path.join(".")}: ${i.message}`, String(i.path[0]));
  }
  return r.data;
}

const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** One page of image ids matching the filters, in the requested order, and the total count (one SQL query). */
async function findImageIds(q: ListImagesQuery) {
  const where: Prisma.Sql[] = [Prisma.sql`i.parent_digest IS NULL`];
  if (q.deleted === "hide") where.push(Prisma.sql`i.deleted_at IS NULL`);
  if (q.deleted === "only") where.push(Prisma.sql`i.deleted_at IS NOT NULL`);
  if (q.registry) where.push(Prisma.sql`g.name = ${q.registry}`);
  if (q.atRisk === "1") where.push(Prisma.sql`EXISTS (SELECT 1 FROM stage_risks sr WHERE sr.image_id = i.id)`);
  if (q.repository) where.push(Prisma.sql`r.name ILIKE ${like(q.repository.toLowerCase())}`);
  if (q.tag) where.push(Prisma.sql`EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = r.id AND t.digest = i.digest AND t.name ILIKE ${like(q.tag)})`);
  if (q.digest) where.push(Prisma.sql`i.digest LIKE ${(q.digest.startsWith("sha256:") ? q.digest : `sha256:${q.digest}`) + "%"}`);
  if (q.signed === "signed") where.push(Prisma.sql`EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)`);
  if (q.signed === "verified") where.push(Prisma.sql`EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id AND s.verdict = 'verified')`);
  if (q.signed === "unsigned") where.push(Prisma.sql`NOT EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id)`);
  // A stage counts as passed as the decisions computed ahead say (stage_decision() in SQL, the one definition:
  // a signed, unrevoked, unexpired approval whose layer verifies in the registry). A row past its valid_until is
  // judged again by stage_decision_now().
  const passed = (stage: Prisma.Sql) => Prisma.sql`EXISTS (SELECT 1 FROM stage_decisions d JOIN stages st ON st.id = d.stage_id
      WHERE d.image_id = i.id AND d.allowed ${stage}
        AND (d.valid_until IS NULL OR d.valid_until > now() OR (SELECT n.allowed FROM stage_decision_now(d.image_id, d.stage_id) n)))`;
  if (q.stage === "none") where.push(Prisma.sql`NOT ${passed(Prisma.empty)}`);
  else if (q.stage) where.push(passed(Prisma.sql`AND st.name = ${q.stage}`));
  const dir = q.dir === "desc" ? Prisma.sql`DESC` : Prisma.sql`ASC`;
  const order =
    q.sort === "seen" ? Prisma.sql`i.last_seen_at ${dir}, i.id` : q.sort === "created" ? Prisma.sql`i.config_created ${dir} NULLS LAST, i.id` : Prisma.sql`g.name ${dir}, r.name ${dir}, i.first_seen_at DESC, i.id`;
  const rows = await db.$queryRaw<{ id: string; total: bigint }[]>`
    SELECT i.id, count(*) OVER () AS total
    FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
    WHERE ${Prisma.join(where, " AND ")}
    ORDER BY ${order}
    LIMIT ${q.pageSize} OFFSET ${(q.page - 1) * q.pageSize}`;
  const total = rows[0] ? Number(rows[0].total) : 0;
  const ids = rows.map((r) => r.id);
  return { ids, total };
}

/** The compact chain for the list: publisher (own or the base image's), team, then each stage. */
function compactChain(
  signatures: { verdict: string; role: string | null }[],
  statuses: ReturnType<typeof stageStatuses>["statuses"],
  base: ReturnType<typeof baseReference>,
  basePublisher: Map<string, "verified" | "signed" | "unsigned">,
): ChainLink[] {
  const chain: ChainLink[] = [];
  const ownPublisher = signatures.filter((s) => s.role === "publisher");
  const baseState = base.digest ? basePublisher.get(base.digest) : undefined;
  if (ownPublisher.some((s) => s.verdict === "verified") || baseState === "verified") {
    chain.push({ label: "publisher", mark: "✓", detail: ownPublisher.some((s) => s.verdict === "verified") ? "signed by a trusted publisher" : `base image ${base.name ?? base.digest} carries a verified publisher signature` });
  } else if (ownPublisher.length || base.digest || base.name) {
    chain.push({ label: "publisher", mark: baseState === "signed" || ownPublisher.length ? "✗" : "–", detail: !base.digest && !ownPublisher.length ? `base ${base.name} is named without a digest` : baseState === undefined && !ownPublisher.length ? "the base image is not in the inventory" : "no verified publisher signature" });
  }
  const team = signatures.filter((s) => s.role === "team");
  if (team.length) chain.push({ label: "team", mark: team.some((s) => s.verdict === "verified") ? "✓" : "✗", detail: team.some((s) => s.verdict === "verified") ? "signed by a trusted team identity" : "the team signature does not verify" });
  for (const st of statuses) {
    chain.push({ label: st.stage, mark: st.state === "approved" ? "✓" : st.state === "signature pending" ? "…" : st.state === "signed, not verified" ? "✗" : "–", detail: st.detail });
  }
  return chain;
}

/**
 * Warnings about tags that moved: away from this digest after it was approved, or onto it from a digest that was
 * approved (approvals do not follow tags).
 */
function tagMoveWarnings(
  img: { digest: string; repositoryId: string; approvals: { status: string; createdAt: Date }[] },
  myTags: string[],
  moves: { repositoryId: string; tag: string; fromDigest: string | null; toDigest: string | null; seenAt: Date }[],
  fromApprovals: { createdAt: Date; stage: { name: string }; image: { digest: string; repositoryId: string } }[],
): string[] {
  const firstApproval = img.approvals.filter((a) => a.status === "signed").sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())[0];
  const warnings: string[] = [];
  for (const m of moves.filter((m) => m.repositoryId === img.repositoryId)) {
    if (m.fromDigest === img.digest && firstApproval && m.seenAt > firstApproval.createdAt) {
      warnings.push(`tag ${m.tag} moved away from this approved digest on ${m.seenAt.toISOString()}${m.toDigest ? ` (now ${m.toDigest.slice(0, 19)})` : " (deleted)"}`);
    }
    if (m.toDigest === img.digest && myTags.includes(m.tag)) {
      const prior = fromApprovals.find((a) => a.image.digest === m.fromDigest && a.image.repositoryId === img.repositoryId && a.createdAt < m.seenAt);
      if (prior) warnings.push(`tag ${m.tag} moved here on ${m.seenAt.toISOString()} from ${m.fromDigest!.slice(0, 19)}, which was approved for ${prior.stage.name}; approvals do not follow tags`);
    }
  }
  return warnings;
}

/** Server-side filtered, sorted and paginated list of top-level images (an index counts once). */
export async function listImages({ actor: _actor, query }: { actor: Actor; query: ListImagesQuery }) {
  const q = query;
  const { ids, total } = await findImageIds(q);

  const [stages, images] = await Promise.all([
    db.stage.findMany({ orderBy: { position: "asc" } }),
    db.image.findMany({
      where: { id: { in: ids } },
      include: {
        repository: { include: { registry: { select: { name: true } } } },
        signatures: { select: { layerDigest: true, verdict: true, keyName: true, role: true } },
        approvals: { select: { stageId: true, status: true, layerDigest: true, createdAt: true, signedAt: true, revokedAt: true, revokedBy: true, revocationReason: true, timestampAt: true, approver: { select: { name: true } }, stage: { select: { name: true } } } },
        _count: { select: { artifacts: true } },
      },
    }),
  ]);
  const byId = new Map(images.map((i) => [i.id, i]));
  const ordered = ids.map((id) => byId.get(id)!).filter(Boolean);
  const repoIds = [...new Set(ordered.map((i) => i.repositoryId))];
  const digests = ordered.map((i) => i.digest);
  const [tags, moves, severities, scanned] = await Promise.all([
    db.tag.findMany({ where: { repositoryId: { in: repoIds }, digest: { in: digests } }, orderBy: { name: "asc" } }),
    db.tagEvent.findMany({ where: { repositoryId: { in: repoIds }, OR: [{ fromDigest: { in: digests } }, { toDigest: { in: digests } }], fromDigest: { not: null } }, orderBy: { seenAt: "desc" }, take: 1000 }),
    severitySummaries(ids),
    db.evidenceDocument.groupBy({ by: ["imageId"], where: { imageId: { in: ids }, kind: { in: ["scan", "vex"] } }, _count: { _all: true } }),
  ]);
  const hasScan = new Set(scanned.map((s) => s.imageId));
  // Base images (OCI base annotations) and their publisher signatures, for the compact chain, in one query.
  const baseRefs = new Map(ordered.map((i) => [i.id, baseReference(i.manifest)]));
  const baseDigests = [...new Set([...baseRefs.values()].map((b) => b.digest).filter((d): d is string => Boolean(d)))];
  const baseImages = baseDigests.length
    ? await db.image.findMany({ where: { digest: { in: baseDigests }, deletedAt: null }, select: { digest: true, signatures: { select: { verdict: true, role: true } } } })
    : [];
  const basePublisher = new Map<string, "verified" | "signed" | "unsigned">();
  for (const b of baseImages) {
    const state = b.signatures.some((s) => s.verdict === "verified" && s.role === "publisher") ? "verified" : b.signatures.length ? "signed" : "unsigned";
    if (basePublisher.get(b.digest) !== "verified") basePublisher.set(b.digest, state);
  }
  // Approvals of the digests tags moved away from, to warn on the digests they moved to.
  const fromDigests = [...new Set(moves.map((m) => m.fromDigest!))];
  const fromApprovals = fromDigests.length
    ? await db.approval.findMany({ where: { status: "signed", image: { digest: { in: fromDigests }, repositoryId: { in: repoIds } } }, select: { createdAt: true, stage: { select: { name: true } }, image: { select: { digest: true, repositoryId: true } } } })
    : [];

  const risks = await db.stageRisk.findMany({ where: { imageId: { in: ordered.map((i) => i.id) } }, orderBy: { since: "asc" } });
  const stageName = new Map(stages.map((s) => [s.id, s.name]));
  const items = ordered.map((img) => {
    const { current, statuses } = stageStatuses(stages, img.approvals, img.signatures);
    const platforms = (img.platforms as Platform[] | null) ?? (img.os ? [{ os: img.os, architecture: img.architecture ?? "", variant: img.variant ?? undefined }] : []);
    const myTags = tags.filter((t) => t.repositoryId === img.repositoryId && t.digest === img.digest).map((t) => t.name);
    const warnings = tagMoveWarnings(img, myTags, moves, fromApprovals);
    const chain = compactChain(img.signatures, statuses, baseRefs.get(img.id)!, basePublisher);
    return {
      registry: img.repository.registry.name,
      repository: img.repository.name,
      digest: img.digest,
      tags: myTags,
      mediaType: img.mediaType,
      size: img.size,
      platforms: platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`),
      signatures: img.signatures.length,
      verifiedSignatures: img.signatures.filter((s) => s.verdict === "verified").length,
      artifacts: img._count.artifacts,
      currentStage: current,
      stages: statuses.map((s) => ({ stage: s.stage, state: s.state })),
      /** publisher ✓ · team ✓ · build ✓ · test ✓ · prod – */
      chain,
      pendingSignatures: img.approvals.filter((a) => a.status === "signing").length,
      deleted: img.deletedAt?.toISOString() ?? null,
      created: img.configCreated?.toISOString() ?? null,
      lastSeenAt: img.lastSeenAt.toISOString(),
      warnings,
      /** Approved stages whose gates no longer hold (re-evaluation). */
      atRisk: risks.filter((r) => r.imageId === img.id).map((r) => ({ stage: stageName.get(r.stageId) ?? "?", since: r.since.toISOString(), reasons: r.reasons, revokeAt: r.revokeAt?.toISOString() ?? null })),
      // null when no scan has been recorded, so "no findings" is never claimed without evidence.
      severities: hasScan.has(img.id) || severities.has(img.id) ? { critical: 0, high: 0, medium: 0, low: 0, ...(severities.get(img.id) ?? {}) } : null,
    };
  });
  return { items, total, page: q.page, pageSize: q.pageSize, pages: Math.max(1, Math.ceil(total / q.pageSize)) };
}

export type ImageListItem = Awaited<ReturnType<typeof listImages>>["items"][number];

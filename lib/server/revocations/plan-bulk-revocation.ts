import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { searchPackages } from "../evidence/search-packages";

export interface BulkRevocationItem {
  approvalId: string;
  imageId: string;
  registry: string;
  repository: string;
  digest: string;
  stage: string;
  /** pending (signature not yet in the registry) or signed. */
  status: string;
  approvedAt: string;
  approver: string;
  requester: string | null;
  reviewers: string[];
  /** Set when the approval is on the index that covers the platform manifest the search found. */
  viaIndexOf: string | null;
}

export interface PlanBulkRevocationOptions {
  actor: Actor;
  /** A fleet search query (lib/versions/range.ts syntax), e.g. `lodash < 4.17.21`. */
  query: string;
  /** Stage names to revoke; every one must exist. */
  stages: string[];
  /** Only these results of the search (registry/repository@digest); omitted: all of them. */
  images?: { registry: string; repository: string; digest: string }[];
}

const MAX_ITEMS = 100_000;

/** The named stages, each of which must exist and, for a reviewer, be one whose reviewer groups they belong to. */
async function stagesToRevoke(actor: Actor, stages: string[]) {
  if (!stages.length) throw new AppError("INVALID_INPUT", "choose at least one stage to revoke", "stages");
  const rows = await db.stage.findMany({
    where: { name: { in: stages } },
    include: { reviewerGroups: { select: { groupId: true, group: { select: { name: true } } } } },
  });
  const missing = stages.filter((s) => !rows.some((r) => r.name === s));
  if (missing.length) throw new AppError("INVALID_INPUT", `no such stage: ${missing.join(", ")}`, "stages");
  if (actor.kind === "user" && actor.role === "reviewer") {
    const mine = new Set((await db.groupMember.findMany({ where: { userId: actor.id }, select: { groupId: true } })).map((m) => m.groupId));
    const notMine = rows.filter((r) => r.reviewerGroups.length > 0 && !r.reviewerGroups.some((g) => mine.has(g.groupId)));
    if (notMine.length) throw new AppError("FORBIDDEN", `you are not in the reviewer groups of ${notMine.map((r) => r.name).join(", ")}`);
  }
  return rows;
}

type Hit = Awaited<ReturnType<typeof searchPackages>>["results"][number];

/** The search results the caller chose (all when `images` is omitted); a chosen image the search did not find is a 422. */
function chosenHits(results: Hit[], images: PlanBulkRevocationOptions["images"]): Hit[] {
  let hits = results;
  if (images) {
    const wanted = new Set(images.map((i) => `${i.registry}/${i.repository}@${i.digest}`));
    hits = hits.filter((h) => wanted.has(`${h.registry}/${h.repository}@${h.digest}`));
    const found = new Set(hits.map((h) => `${h.registry}/${h.repository}@${h.digest}`));
    const stray = [...wanted].filter((w) => !found.has(w));
    if (stray.length)
      throw new AppError(
        "INVALID_INPUT",
        `not among the search results: ${stray.slice(0, 5).join(", ")}${stray.length > 5 ? ` and ${stray.length - 5} more` : ""}`,
        "images",
      );
  }
  return hits;
}

/**
 * What a bulk revocation would change: every standing (not revoked) approval of the chosen stages on the images the
 * search finds (or the chosen ones among them), including approvals on an index that covers a platform manifest
 * found. Nothing is written. Admins, and reviewers for stages whose reviewer groups they belong to.
 */
export async function planBulkRevocation({
  actor,
  query,
  stages,
  images,
}: PlanBulkRevocationOptions): Promise<{ query: string; stages: string[]; images: number; items: BulkRevocationItem[] }> {
  if (actor.kind === "user" && actor.role !== "admin" && actor.role !== "reviewer")
    throw new AppError("FORBIDDEN", `a bulk revocation needs role reviewer or admin; you are ${actor.role}`);
  const rows = await stagesToRevoke(actor, stages);
  const search = await searchPackages({ actor, q: query, limit: Infinity, includeDeleted: true });
  // A search that stopped reading versions at its limit may have left out the very images that need revoking: a
  // partial list must never pass for the whole (found by review: it planned nothing at all, silently).
  if (search.truncated)
    throw new AppError(
      "INVALID_INPUT",
      `the search "${query}" matches more package versions than one search reads; narrow the query (a purl, e.g. pkg:npm/lodash, reads only that package's versions) so the plan lists every image`,
      "query",
    );
  const hits = chosenHits(search.results, images);
  if (!hits.length) return { query, stages, images: 0, items: [] };
  // The found images, and every index that covers a platform manifest among them (cosign signs the index). Found by
  // content, as admission's attestation check reads it: each index of the same repository whose platform list names
  // the manifest. images.parent_digest names only the first index a platform manifest was seen under, and the same
  // platform build is often in several (a multi-arch tag re-published with one platform rebuilt): following it alone
  // left the other indexes' approvals standing (found by review). One pass over the platform lists of the hits'
  // repositories, hash-joined to the hits, not a containment test of every index per hit.
  const found = await db.$queryRaw<
    { id: string; registry: string; repository: string; digest: string; parent_id: string | null; parent_digest: string | null }[]
  >`
    WITH hit AS MATERIALIZED (
      SELECT i.id, i.repository_id, g.name AS registry, r.name AS repository, i.digest
      FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
      WHERE (g.name, r.name, i.digest) IN (SELECT * FROM unnest(${hits.map((h) => h.registry)}::text[], ${hits.map((h) => h.repository)}::text[], ${hits.map((h) => h.digest)}::text[]))),
    covering AS (
      SELECT DISTINCT p.id, p.repository_id, p.digest, e.entry->>'digest' AS platform
      FROM images p CROSS JOIN LATERAL jsonb_array_elements(p.platforms) AS e(entry)
      WHERE p.repository_id IN (SELECT repository_id FROM hit) AND jsonb_typeof(p.platforms) = 'array')
    SELECT h.id, h.registry, h.repository, h.digest, c.id AS parent_id, c.digest AS parent_digest
    FROM hit h LEFT JOIN covering c ON c.repository_id = h.repository_id AND c.platform = h.digest
    ORDER BY h.registry, h.repository, h.digest, c.digest`;
  const target = new Map<string, { registry: string; repository: string; digest: string; viaIndexOf: string | null }>();
  // The hits first: an index found by the search itself is a hit, not "via" a platform manifest.
  for (const f of found) target.set(f.id, { registry: f.registry, repository: f.repository, digest: f.digest, viaIndexOf: null });
  for (const f of found) {
    if (f.parent_id && !target.has(f.parent_id))
      target.set(f.parent_id, { registry: f.registry, repository: f.repository, digest: f.parent_digest!, viaIndexOf: f.digest });
  }
  const stageIds = rows.map((r) => r.id);
  const approvals = await db.approval.findMany({
    where: { imageId: { in: [...target.keys()] }, stageId: { in: stageIds }, revokedAt: null },
    select: {
      id: true,
      imageId: true,
      status: true,
      createdAt: true,
      stage: { select: { name: true, position: true } },
      approver: { select: { email: true } },
      request: {
        select: { requester: { select: { email: true } }, reviews: { where: { decision: "approve" }, select: { reviewer: { select: { email: true } } } } },
      },
    },
    orderBy: [{ createdAt: "asc" }],
    take: MAX_ITEMS + 1,
  });
  if (approvals.length > MAX_ITEMS) throw new AppError("INVALID_INPUT", `the search covers more than ${MAX_ITEMS} approvals; narrow it`, "query");
  const items = approvals
    .map((a): BulkRevocationItem => {
      const t = target.get(a.imageId)!;
      return {
        approvalId: a.id,
        imageId: a.imageId,
        registry: t.registry,
        repository: t.repository,
        digest: t.digest,
        stage: a.stage.name,
        status: a.status === "signing" ? "pending" : "signed",
        approvedAt: a.createdAt.toISOString(),
        approver: a.approver.email,
        requester: a.request?.requester?.email ?? null,
        reviewers: [...new Set(a.request?.reviews.map((r) => r.reviewer.email) ?? [])],
        viaIndexOf: t.viaIndexOf,
      };
    })
    .sort((x, y) => (x.registry + x.repository + x.digest + x.stage < y.registry + y.repository + y.digest + y.stage ? -1 : 1));
  return { query, stages, images: new Set(items.map((i) => i.imageId)).size, items };
}

import "server-only";
import { db } from "../../db";
import { blockingReasons, evaluateGates } from "../../policy/gates";
import { stageGates } from "../stages/stage-gates";
import type { Actor } from "../actor";
import { readStageDecisions, type StageStatus } from "../images/read-stage-decisions";
import { gatherGateFacts } from "./gather-gate-facts";
import { approvalsSummary } from "./get-request";
import { readReviewStandings, type ReviewWithStanding } from "./read-review-standings";
import { standingApprovals } from "./reviewer-eligibility";

const MAX_IMAGES = 100;

/** Each image the user requested a promotion for or built, with when they last did and which of the two. */
async function imagesIRequestedOrBuilt(userId: string) {
  const [requested, built] = await Promise.all([
    db.promotionRequest.findMany({ where: { requesterId: userId }, select: { imageId: true, createdAt: true }, orderBy: { createdAt: "desc" }, take: 500 }),
    db.evidenceDocument.findMany({
      where: { uploaderId: userId, kind: "provenance" },
      select: { imageId: true, uploadedAt: true },
      orderBy: { uploadedAt: "desc" },
      take: 500,
    }),
  ]);
  const latest = new Map<string, { at: Date; why: Set<string> }>();
  for (const r of requested) {
    const e = latest.get(r.imageId) ?? { at: r.createdAt, why: new Set<string>() };
    e.why.add("requested");
    if (r.createdAt > e.at) e.at = r.createdAt;
    latest.set(r.imageId, e);
  }
  for (const b of built) {
    const e = latest.get(b.imageId) ?? { at: b.uploadedAt, why: new Set<string>() };
    e.why.add("built");
    if (b.uploadedAt > e.at) e.at = b.uploadedAt;
    latest.set(b.imageId, e);
  }
  return latest;
}

/**
 * "My images": each digest I requested a promotion for or built (uploaded its provenance), its current stage,
 * and in plain words what blocks the next one: a missing request, missing approvals, failing gates, or a
 * signature still on its way to the registry.
 */
type MyImage = Awaited<ReturnType<typeof loadImages>>[number];
type MyStage = Awaited<ReturnType<typeof loadStages>>[number];

function loadImages(ids: string[]) {
  return db.image.findMany({
    where: { id: { in: ids } },
    select: {
      id: true,
      digest: true,
      repository: { select: { name: true, registry: { select: { name: true } } } },
      requests: {
        orderBy: { createdAt: "desc" },
        select: {
          id: true,
          stageId: true,
          status: true,
          requesterId: true,
        },
      },
    },
  });
}

function loadStages() {
  return db.stage.findMany({ orderBy: { position: "asc" }, include: { reviewerGroups: { include: { group: { select: { id: true, name: true } } } } } });
}

/** What stands between the image and its next stage: the request's state, the approvals missing, the gates failing. */
async function nextStageBlockers({
  actor,
  img,
  next,
  statuses,
  reviews,
}: {
  actor: Actor;
  img: MyImage;
  next: MyStage;
  statuses: StageStatus[];
  /** Each request's reviews with their reviewers' standing now (readReviewStandings). */
  reviews: Map<string, ReviewWithStanding[]>;
}) {
  const blockers: string[] = [];
  const found = img.requests.find((r) => r.stageId === next.id);
  const req = found ? { ...found, reviews: reviews.get(found.id) ?? [] } : undefined;
  // (Read in a separate query from the stage list: a stage created in between has no decision here yet.)
  const nextStatus = statuses.find((s) => s.stage === next.name);
  // An open request's approvals, counted as the review counts them (standingApprovals), with those that no longer count and why.
  const standing = req?.status === "open" ? standingApprovals({ ...req, stage: next }) : null;
  if (nextStatus?.state === "signature pending")
    blockers.push(`${next.name} is approved; its signature is not yet in the registry (it is retried automatically)`);
  else if (nextStatus?.state === "signed, not verified") blockers.push(`${next.name} was signed but the signature does not verify: ${nextStatus.detail}`);
  else if (!req || req.status === "withdrawn") blockers.push(`no promotion to ${next.name} has been requested`);
  else if (req.status === "rejected") {
    const r = req.reviews.find((v) => v.decision === "reject");
    blockers.push(`the request for ${next.name} was rejected${r ? ` by ${r.reviewer.name}: ${r.comment}` : ""}`);
  } else if (req.status === "open" && standing) {
    blockers.push(
      approvalsSummary(
        next.requiredApprovals,
        next.reviewerGroups.map((g) => g.group.name),
        standing.counted.map((v) => v.reviewer.name),
        standing.notCounted,
      ),
    );
  }
  if (!req || req.status === "open" || req.status === "rejected" || req.status === "withdrawn") {
    const gates = evaluateGates(
      stageGates(next),
      await gatherGateFacts(db, {
        imageId: img.id,
        stageId: next.id,
        requesterId: req?.status === "open" ? req.requesterId : actor.kind === "user" ? actor.id : null,
        // An open request's counted approvals, as its next review judges them (four eyes on waivers and evidence).
        approverIds: standing ? standing.counted.map((v) => v.reviewerId) : [],
      }),
    );
    blockers.push(...blockingReasons(gates));
  }
  return { blockers, nextRequestId: req?.id ?? null };
}

export async function listMyImages({ actor }: { actor: Actor }) {
  if (actor.kind !== "user") return [];
  const latest = await imagesIRequestedOrBuilt(actor.id);
  const ids = [...latest.entries()]
    .sort((a, b) => b[1].at.getTime() - a[1].at.getTime())
    .slice(0, MAX_IMAGES)
    .map(([id]) => id);
  if (ids.length === 0) return [];
  const [images, stages] = await Promise.all([loadImages(ids), loadStages()]);
  // Whether each stage is passed, and why: decided in SQL (stage_decisions).
  const decisions = await readStageDecisions(db, { imageIds: images.map((i) => i.id) });
  const risks = await db.stageRisk.findMany({ where: { imageId: { in: ids } }, orderBy: { since: "asc" } });
  const reviews = await readReviewStandings(
    db,
    // The open ones are counted; a rejected one's rejection is quoted.
    images.flatMap((i) => i.requests.filter((r) => r.status === "open" || r.status === "rejected").map((r) => r.id)),
  );
  const out = [];
  for (const id of ids) {
    const img = images.find((i) => i.id === id);
    if (!img) continue;
    const { statuses, current } = decisions.get(img.id)!;
    const passedIdx = current ? stages.findIndex((s) => s.name === current) : -1;
    const next = stages[passedIdx + 1] ?? null;
    const { blockers, nextRequestId } = next ? await nextStageBlockers({ actor, img, next, statuses, reviews }) : { blockers: [], nextRequestId: null };
    out.push({
      registry: img.repository.registry.name,
      repository: img.repository.name,
      digest: img.digest,
      why: [...latest.get(id)!.why],
      currentStage: current,
      nextStage: next?.name ?? null,
      nextRequestId,
      blockers,
      stages: statuses.map((s) => ({ stage: s.stage, state: s.state })),
      /** Approved stages whose gates no longer hold (re-evaluation), with since and why. */
      atRisk: risks
        .filter((r) => r.imageId === img.id)
        .map((r) => ({
          stage: stages.find((s) => s.id === r.stageId)?.name ?? "?",
          since: r.since.toISOString(),
          reasons: r.reasons,
          revokeAt: r.revokeAt?.toISOString() ?? null,
        })),
    });
  }
  return out;
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { GATE_IDS } from "../../policy/gates";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { requestReevaluationInScope } from "../reevaluation/enqueue-reevaluation";
import { assertOwnPassword } from "../users/password-standing";

export interface GrantWaiverOptions {
  actor: Actor;
  stage: string;
  /** The gate it waives: findings, sbom, provenance, signedEvidence, previousStage, basePublisher, scanAge. */
  gate: string;
  /** For the findings gate: only these vulnerability ids (CVE-…, GHSA-…). Empty: the whole gate. */
  vulnIds?: string[];
  registry?: string | null;
  repository: string;
  /** One digest, or null for the whole repository. */
  digest?: string | null;
  reason: string;
  expiresAt: Date;
  /** When granted from a request's review page: the requester of that request may not grant it. */
  requestId?: string | null;
}

const MAX_DAYS = 366;

/** The waiver's own fields, refused with a 422 naming the field; returns the distinct vulnerability ids. */
function validateWaiverInput({ gate, vulnIds, reason, expiresAt }: { gate: string; vulnIds: string[]; reason: string; expiresAt: Date }): string[] {
  if (!(GATE_IDS as readonly string[]).includes(gate)) throw new AppError("INVALID_INPUT", `unknown gate ${gate}; one of ${GATE_IDS.join(", ")}`, "gate");
  if (vulnIds.length && gate !== "findings") throw new AppError("INVALID_INPUT", "vulnerability ids apply to the findings gate only", "vulnIds");
  const ids = [...new Set(vulnIds.map((v) => v.trim()).filter(Boolean))];
  if (ids.some((v) => !/^[A-Za-z][A-Za-z0-9._:-]{2,80}$/.test(v)))
    throw new AppError("INVALID_INPUT", "vulnerability ids look like CVE-2024-1234 or GHSA-xxxx-xxxx-xxxx", "vulnIds");
  if (ids.length > 200) throw new AppError("INVALID_INPUT", "at most 200 vulnerability ids per waiver", "vulnIds");
  if (reason.trim().length < 5) throw new AppError("INVALID_INPUT", "a waiver needs a reason", "reason");
  const now = new Date();
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime()) || expiresAt <= now)
    throw new AppError("INVALID_INPUT", "the expiry must be in the future", "expiresAt");
  if (expiresAt.getTime() - now.getTime() > MAX_DAYS * 86_400_000) throw new AppError("INVALID_INPUT", `a waiver lasts at most ${MAX_DAYS} days`, "expiresAt");
  return ids;
}

/** Refuses a waiver the grantor may not give: a named request that doesn't match, or a build the grantor requested or built. */
async function assertFourEyes({
  actor,
  stageId,
  repositoryId,
  digest,
  requestId,
}: {
  actor: Actor & { kind: "user" };
  stageId: string;
  repositoryId: string;
  digest: string | null;
  requestId: string | null;
}): Promise<void> {
  // Four eyes, as for reviews: never the requester of a request this waiver would cover, nor the account that
  // uploaded the build's provenance (the CI identity behind it). Covered: an open request, and a decided one whose
  // approval still stands (approved or signed, not revoked), since re-evaluation judges that approval's gates again
  // and a waiver is what lets a regressed one stand. (Re-evaluation discounts such a waiver too, whatever the order.)
  if (requestId) {
    const named = await db.promotionRequest.findUnique({
      where: { id: requestId },
      select: { stageId: true, image: { select: { repositoryId: true, digest: true } } },
    });
    if (!named || named.stageId !== stageId || named.image.repositoryId !== repositoryId || (digest && named.image.digest !== digest)) {
      throw new AppError("NOT_FOUND", "no such promotion request for this stage and scope", "requestId");
    }
  }
  // Two existence checks (a repository-wide waiver may cover thousands of requests; one row answers each question).
  const covered = {
    stageId,
    image: { repositoryId, ...(digest ? { digest } : {}) },
    OR: [{ status: "open" as const }, { status: { in: ["approved" as const, "signed" as const] }, approval: { is: { revokedAt: null } } }],
  };
  const [requested, built] = await Promise.all([
    db.promotionRequest.findFirst({ where: { ...covered, requesterId: actor.id }, select: { id: true } }),
    db.promotionRequest.findFirst({
      where: { ...covered, image: { ...covered.image, evidence: { some: { kind: "provenance", uploaderId: actor.id } } } },
      select: { id: true },
    }),
  ]);
  if (requested) {
    throw new AppError(
      "FORBIDDEN",
      "you requested a promotion this waiver would cover (open, or approved and not revoked); four eyes: a waiver is never granted by the requester",
    );
  }
  if (built) {
    throw new AppError("FORBIDDEN", "you uploaded the provenance of a build this waiver would cover; four eyes: the build's author cannot waive its gates");
  }
}

/**
 * A member of the stage's waiver group lets a failing gate pass, within a scope, until it expires. Never the
 * requester of the promotion it is meant for. Listed, audited, and shown on every approval that relied on it.
 */
export async function grantWaiver({
  actor,
  stage: stageName,
  gate,
  vulnIds = [],
  registry,
  repository,
  digest = null,
  reason,
  expiresAt,
  requestId = null,
}: GrantWaiverOptions) {
  if (actor.kind !== "user") throw new AppError("FORBIDDEN", "waivers are granted by a user");
  const ids = validateWaiverInput({ gate, vulnIds, reason, expiresAt });
  // A waiver is a reviewer's judgement: not with a password someone else set (password-standing.ts). Waivers granted
  // before a reset still count: they were the owner's own, and a reset must not revoke approvals that relied on them.
  await assertOwnPassword(db, actor, "granting waivers");

  const stage = await db.stage.findUnique({ where: { name: stageName }, include: { waiverGroup: true } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  if (!stage.waiverGroup) throw new AppError("FORBIDDEN", `stage ${stage.name} has no waiver group; no one may grant waivers for it`);
  const member = await db.groupMember.findUnique({ where: { groupId_userId: { groupId: stage.waiverGroup.id, userId: actor.id } } });
  if (!member) throw new AppError("FORBIDDEN", `waivers for stage ${stage.name} are granted by group ${stage.waiverGroup.name}, and you are not a member`);
  const reg = registry ? await db.registry.findUnique({ where: { name: registry } }) : await db.registry.findFirst({ orderBy: { createdAt: "asc" } });
  if (!reg) throw new AppError("NOT_FOUND", `unknown registry ${registry ?? "(default)"}`, "registry");
  const repo = await db.repository.findUnique({ where: { registryId_name: { registryId: reg.id, name: repository } } });
  if (!repo) throw new AppError("NOT_FOUND", `unknown repository ${repository}`, "repository");
  if (digest && !(await db.image.findUnique({ where: { repositoryId_digest: { repositoryId: repo.id, digest } } })))
    throw new AppError("NOT_FOUND", `unknown digest ${digest} in ${repository}`, "digest");

  await assertFourEyes({ actor, stageId: stage.id, repositoryId: repo.id, digest, requestId });

  return db.$transaction(async (tx) => {
    const w = await tx.waiver.create({
      data: { stageId: stage.id, gate, vulnIds: ids, repositoryId: repo.id, digest, reason: reason.trim(), expiresAt, grantedById: actor.id },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "waiver.grant",
      targetDigest: digest,
      target: `${reg.name}/${repository}`,
      detail: {
        waiverId: w.id,
        stage: stage.name,
        gate,
        vulnIds: ids,
        scope: digest ? "digest" : "repository",
        reason: w.reason,
        expiresAt: expiresAt.toISOString(),
      },
    });
    // A waiver granted in time lifts an at-risk stage (and stops a "revoke-after" revocation).
    await requestReevaluationInScope(tx, { repositoryId: repo.id, digest });
    await emitEvent(tx, "waiver.granted", {
      waiverId: w.id,
      stage: stage.name,
      gate,
      vulnIds: ids,
      repository: `${reg.name}/${repository}`,
      digest,
      by: actor.email,
      expiresAt: expiresAt.toISOString(),
    });
    return { id: w.id, stage: stage.name, gate, vulnIds: ids, repository, digest, reason: w.reason, expiresAt: w.expiresAt.toISOString() };
  });
}

import "server-only";
import { JsonColumnError } from "../json-columns";
import { db, Prisma, type Tx } from "../../db";
import { isAppError } from "../../errors";
import { blockingReasons, evaluateGates } from "../../policy/gates";
import type { Actor } from "../actor";
import { auditEventValues, type AuditEventInput } from "../audit/append-audit-event";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { stageGates } from "../stages/stage-gates";
import { emitEvent } from "../webhooks/emit-event";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { quorumReasons } from "./approval-quorum";
import { approvalsInFlightBarrier } from "./judgement-inputs-lock";

const SYSTEM: Actor = { kind: "system", label: "reevaluation" };
const CLAIM = 50;
// The advisory lock namespace for judging one image (see lib/server/advisory-locks.ts).
const RISK_LOCK = ADVISORY_LOCKS.stageRisk;
/** Concurrent claim loops (each its own transaction and connection). */
const LANES = 4;

/**
 * Audited in the judging transaction through the audit outbox (folded into the hash chain by the scheduler tick
 * and before any read): thousands of images turning at risk at once must not queue behind the chain's lock.
 */
async function audit(tx: Tx, e: AuditEventInput) {
  await tx.auditOutbox.create({ data: auditEventValues(e) });
}

export interface ReevaluationResult {
  /** Image × stage approvals judged again. */
  evaluated: number;
  /** Newly at risk. */
  atRisk: number;
  /** At risk before, their gates hold again. */
  resolved: number;
}

type StageRow = { id: string; name: string; gates: unknown; onRegression: string; regressionGraceHours: number };

/**
 * The approvals that currently stand for each stage of these images: signed, not revoked, the newest per stage, with
 * the requester of the request each concludes (four eyes: that account's waivers never count for it).
 */
async function currentApprovals(tx: Tx, imageIds: readonly string[]) {
  return tx.$queryRaw<{ id: string; image_id: string; stage_id: string; requester_id: string | null; approver_ids: string[] }[]>`
    SELECT DISTINCT ON (a.image_id, a.stage_id) a.id, a.image_id, a.stage_id, pr.requester_id,
      ARRAY(SELECT DISTINCT r.reviewer_id::text FROM reviews r WHERE r.request_id = a.request_id AND r.decision = 'approve') AS approver_ids
    FROM approvals a
    LEFT JOIN promotion_requests pr ON pr.id = a.request_id
    WHERE a.image_id = ANY(${[...imageIds]}::uuid[]) AND a.status IN ('signed', 'signing') ${notRevoked}
    ORDER BY a.image_id, a.stage_id, a.created_at DESC`;
}

// Approvals taken back (approvals.revoked_at, added by the revocation work) no longer stand.
const notRevoked = Prisma.sql`AND a.revoked_at IS NULL`;

/**
 * Why one standing approval no longer holds: its stage's gates as they are now (judged as at review time: the
 * requester's and the approvers' own waivers are not counted, whatever the order they came in, so a waiver granted
 * after the approval by one of its approvers cannot keep it standing), and its quorum (approval-quorum.ts). Null when
 * the gates could not be judged this time and the quorum holds: the approval is left as it was. `revocable` is false
 * when the only reasons are gates that cannot be read: a broken row is the operator's to fix, on the Stages page, and
 * revokes nothing.
 */
async function judgeApproval(
  tx: Tx,
  { a, stage, now, quorum }: { a: { image_id: string; requester_id: string | null; approver_ids: string[] }; stage: StageRow; now: Date; quorum: string[] },
): Promise<{ reasons: string[]; revocable: boolean } | null> {
  try {
    const facts = await gatherGateFacts(tx, { imageId: a.image_id, stageId: stage.id, now, requesterId: a.requester_id, approverIds: a.approver_ids });
    return { reasons: [...blockingReasons(evaluateGates(stageGates(stage), facts)), ...quorum], revocable: true };
  } catch (e) {
    if (!isAppError(e)) throw e;
    // Gates that cannot be judged now: the quorum still can, and a missing one is flagged (and revoked) on its own.
    if (!(e instanceof JsonColumnError)) return quorum.length ? { reasons: quorum, revocable: true } : null;
    // Stored gates that no longer parse: the approval cannot be judged, and is flagged as at risk saying so.
    return { reasons: [`the stage's gates cannot be read, so this approval cannot be judged again: ${e.message}`, ...quorum], revocable: quorum.length > 0 };
  }
}

/**
 * Judges one image's standing approvals against their stages' gates and quorum as they are now, and records the
 * outcome in the caller's transaction: a stage whose approval no longer holds becomes (or stays) at risk, with its
 * reasons, an audit event and the `image.at-risk` webhook the first time; a stage whose approval holds again is no
 * longer at risk.
 */
async function judgeImage(tx: Tx, imageId: string, stages: Map<string, StageRow>, now: Date, actor: Actor, out: ReevaluationResult) {
  // One judge per image at a time (lanes and replicas); callers take these in sorted order, so they cannot deadlock.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${RISK_LOCK}::int, hashtext(${imageId}))`;
  const approvals = await currentApprovals(tx, [imageId]);
  const risks = await tx.stageRisk.findMany({ where: { imageId } });
  const standing = new Set(approvals.map((a) => a.stage_id));
  const image = await tx.image.findUniqueOrThrow({
    where: { id: imageId },
    select: { digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } },
  });
  const ref = { registry: image.repository.registry.name, repository: image.repository.name, digest: image.digest };
  // A stage whose approval was revoked (or superseded away) is no longer "approved but at risk".
  for (const r of risks) if (!standing.has(r.stageId)) await tx.stageRisk.delete({ where: { id: r.id } });
  const quorum = await quorumReasons(
    tx,
    approvals.map((a) => a.id),
  );
  for (const a of approvals) {
    const stage = stages.get(a.stage_id);
    if (!stage) continue;
    const judged = await judgeApproval(tx, { a, stage, now, quorum: quorum.get(a.id) ?? [] });
    if (!judged) continue;
    const { reasons, revocable } = judged;
    out.evaluated++;
    const risk = risks.find((r) => r.stageId === stage.id);
    if (reasons.length) {
      // The stage's onRegression as it is now, also for an approval already at risk: a stage switched to revoke-after
      // starts the grace period of the approvals flagged under "flag" (else they would stand forever); one switched
      // back to "flag", or gates that cannot be read (and a quorum that holds), revoke nothing.
      const revokeAt =
        stage.onRegression === "revoke-after" && revocable ? (risk?.revokeAt ?? new Date(now.getTime() + stage.regressionGraceHours * 3_600_000)) : null;
      if (risk) {
        await tx.stageRisk.update({ where: { id: risk.id }, data: { reasons, approvalId: a.id, checkedAt: now, revokeAt } });
        continue;
      }
      await tx.stageRisk.create({ data: { imageId, stageId: stage.id, approvalId: a.id, since: now, reasons, revokeAt, checkedAt: now } });
      out.atRisk++;
      const detail = {
        ...ref,
        stage: stage.name,
        approvalId: a.id,
        since: now.toISOString(),
        reasons,
        onRegression: stage.onRegression,
        revokeAt: revokeAt?.toISOString() ?? null,
      };
      await audit(tx, { actor, action: "image.at-risk", targetDigest: image.digest, target: `${ref.registry}/${ref.repository}`, detail });
      await emitEvent(tx, "image.at-risk", detail);
    } else if (risk) {
      await tx.stageRisk.delete({ where: { id: risk.id } });
      out.resolved++;
      await audit(tx, {
        actor,
        action: "image.at-risk.resolved",
        targetDigest: image.digest,
        target: `${ref.registry}/${ref.repository}`,
        detail: { ...ref, stage: stage.name, approvalId: a.id, since: risk.since.toISOString() },
      });
    }
  }
}

/**
 * Drains the re-evaluation requests: a batch of requests is claimed (FOR UPDATE SKIP LOCKED, so replicas share the
 * work), its images judged, the outcomes written and the requests deleted in one transaction. A replica that dies
 * halfway rolls its batch back, and the requests are claimed again: nothing is half-done, and judging twice
 * writes the same state (idempotent).
 */
export async function reevaluateApprovals({
  actor = SYSTEM,
  now = () => new Date(),
  maxBatches = Infinity,
  lanes = LANES,
}: { actor?: Actor; now?: () => Date; maxBatches?: number; lanes?: number } = {}): Promise<ReevaluationResult> {
  const out: ReevaluationResult = { evaluated: 0, atRisk: 0, resolved: 0 };
  let batches = 0;
  const lane = async () => {
    while (batches < maxBatches) {
      batches++;
      const more = await db.$transaction(
        async (tx) => {
          const claimed = await tx.$queryRaw<{ id: bigint; image_id: string | null }[]>`
          SELECT id, image_id FROM reevaluation_requests ORDER BY id LIMIT ${CLAIM} FOR UPDATE SKIP LOCKED`;
          if (!claimed.length) return false;
          const all = claimed.filter((c) => c.image_id === null);
          if (all.length) {
            // "Every approved image": expanded into one request per image, judged by the following batches.
            await tx.$executeRaw`
            INSERT INTO reevaluation_requests (image_id, trigger)
            SELECT DISTINCT a.image_id, 'all' FROM approvals a WHERE a.status IN ('signed', 'signing') ${notRevoked}`;
            await tx.$executeRaw`DELETE FROM reevaluation_requests WHERE id = ANY(${all.map((c) => c.id)}::bigint[])`;
            return true;
          }
          // The changes behind these requests have committed; approvals judged before them and still in flight must be
          // committed too before their images are read, or they would never be judged again.
          await approvalsInFlightBarrier();
          const stages = new Map(
            (await tx.stage.findMany({ select: { id: true, name: true, gates: true, onRegression: true, regressionGraceHours: true } })).map((s) => [s.id, s]),
          );
          const at = now();
          for (const imageId of [...new Set(claimed.map((c) => c.image_id!))].sort()) await judgeImage(tx, imageId, stages, at, actor, out);
          await tx.$executeRaw`DELETE FROM reevaluation_requests WHERE id = ANY(${claimed.map((c) => c.id)}::bigint[])`;
          return true;
        },
        { timeout: 600_000, maxWait: 30_000 },
      );
      if (!more) break;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, lanes) }, lane));
  return out;
}

/**
 * @deprecated — list-images moves to stage_decisions (branch imagelist). The stage rules are written once, in SQL
 * (stage_decision(), table stage_decisions; read through ./read-stage-decisions.ts). This copy stays only because
 * lib/server/images/list-images.ts still imports stageStatuses; delete the file when it no longer does.
 */
import "server-only";
import type { StageState } from "./read-stage-decisions";

/** @deprecated — import it from ./read-stage-decisions (branch imagelist's list-images.ts imports it from here). */
export type { StageState };

interface StageStatus {
  stage: string;
  position: number;
  state: StageState;
  detail: string;
  approvedAt: string | null;
  approver: string | null;
  /** When the approval counted stops counting (its stage's approvalTtlDays from its trusted time); null = never. */
  expiresAt?: string | null;
}

interface StageStatusApproval {
  stageId: string;
  status: "signing" | "signed";
  layerDigest: string;
  createdAt: Date;
  signedAt: Date | null;
  approver: { name: string };
  /** Set once a revocation was accepted: from then on the approval never counts, whatever the registry still holds. */
  revokedAt: Date | null;
  revocationReason?: string | null;
  revokedBy?: string | null;
  /** The TSA's time for the signature (RFC 3161), when it has one. */
  timestampAt: Date | null;
}

/**
 * An approval's trusted time: the TSA's when its signature carries a token, else Imprimatur's own record of the
 * approval (committed with its audit event before the signature was pushed). Expiry and revocation use only this.
 */
function approvalTrustedTime(a: { createdAt: Date; timestampAt?: Date | null }): { at: Date; by: "tsa" | "record" } {
  return a.timestampAt ? { at: a.timestampAt, by: "tsa" } : { at: a.createdAt, by: "record" };
}

const DAY = 86_400_000;

/**
 * @deprecated — list-images moves to stage_decisions (branch imagelist); use readStageDecisions.
 *
 * A stage counts as passed only when its signature is in the registry and verifies under a stage key, the approval
 * is not revoked and, when the stage sets approvalTtlDays, not expired: a record in Postgres alone, or a signature
 * still being pushed, is never reported as passed. The newest approval that counts wins; when none does, the newest
 * approval says why (revoked, expired, pending, not verified).
 */
export function stageStatuses(
  stages: { id: string; name: string; position: number; approvalTtlDays: number | null }[],
  approvals: StageStatusApproval[],
  signatures: { layerDigest: string; verdict: string; keyName: string | null }[],
  now: Date = new Date(),
): { statuses: StageStatus[]; current: string | null } {
  const sigByLayer = new Map(signatures.map((s) => [s.layerDigest, s]));
  const statuses = stages
    .sort((a, b) => a.position - b.position)
    .map((stage): StageStatus => {
      const ttl = stage.approvalTtlDays ?? null;
      const expiry = (a: StageStatusApproval) => (ttl ? new Date(approvalTrustedTime(a).at.getTime() + ttl * DAY) : null);
      const mine = approvals.filter((a) => a.stageId === stage.id).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      const live = mine.filter((a) => !a.revokedAt);
      const current = live.filter((a) => {
        const e = expiry(a);
        return !e || now < e;
      });
      const good = current.find((a) => a.status === "signed" && sigByLayer.get(a.layerDigest)?.verdict === "verified");
      if (good) {
        const e = expiry(good);
        return {
          stage: stage.name,
          position: stage.position,
          state: "approved",
          detail: `signed by ${sigByLayer.get(good.layerDigest)?.keyName ?? "stage key"}${e ? `, valid until ${e.toISOString()}` : ""}`,
          approvedAt: (good.signedAt ?? good.createdAt).toISOString(),
          approver: good.approver.name,
          expiresAt: e ? e.toISOString() : null,
        };
      }
      const pending = current.find((a) => a.status === "signing");
      if (pending) {
        return { stage: stage.name, position: stage.position, state: "signature pending", detail: "approved; the signature is not yet in the registry", approvedAt: null, approver: pending.approver.name };
      }
      const newest = mine[0];
      if (newest?.revokedAt) {
        return {
          stage: stage.name,
          position: stage.position,
          state: "revoked",
          detail: `revoked ${newest.revokedAt.toISOString()}${newest.revokedBy ? ` by ${newest.revokedBy}` : ""}${newest.revocationReason ? `: ${newest.revocationReason}` : ""}`,
          approvedAt: null,
          approver: newest.approver.name,
        };
      }
      if (newest && !current.includes(newest)) {
        const e = expiry(newest)!;
        const t = approvalTrustedTime(newest);
        return {
          stage: stage.name,
          position: stage.position,
          state: "approval expired",
          detail: `approved ${t.at.toISOString()} (${t.by === "tsa" ? "time trusted by the TSA" : "Imprimatur's record"}); stage ${stage.name} approvals last ${ttl} day${ttl === 1 ? "" : "s"}, so it expired ${e.toISOString()}; request the promotion again`,
          approvedAt: null,
          approver: newest.approver.name,
          expiresAt: e.toISOString(),
        };
      }
      const signed = current.find((a) => a.status === "signed");
      if (signed) {
        const sig = sigByLayer.get(signed.layerDigest);
        return { stage: stage.name, position: stage.position, state: "signed, not verified", detail: sig ? sig.verdict : "the signature layer is missing from the registry", approvedAt: null, approver: signed.approver.name };
      }
      return { stage: stage.name, position: stage.position, state: "not approved", detail: "no approval", approvedAt: null, approver: null };
    });
  const passed = statuses.filter((s) => s.state === "approved");
  return { statuses, current: passed.length ? passed[passed.length - 1]!.stage : null };
}

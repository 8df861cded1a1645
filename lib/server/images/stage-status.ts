import "server-only";

export type StageState = "approved" | "signature pending" | "signed, not verified" | "not approved";

export interface StageStatus {
  stage: string;
  position: number;
  state: StageState;
  detail: string;
  approvedAt: string | null;
  approver: string | null;
}

/**
 * A stage counts as passed only when its signature is in the registry and verifies under a stage key:
 * a record in Postgres alone, or a signature still being pushed, is never reported as passed.
 */
export function stageStatuses(
  stages: { id: string; name: string; position: number }[],
  approvals: { stageId: string; status: "signing" | "signed"; layerDigest: string; createdAt: Date; signedAt: Date | null; approver: { name: string } }[],
  signatures: { layerDigest: string; verdict: string; keyName: string | null }[],
): { statuses: StageStatus[]; current: string | null } {
  const sigByLayer = new Map(signatures.map((s) => [s.layerDigest, s]));
  const statuses = stages
    .sort((a, b) => a.position - b.position)
    .map((stage): StageStatus => {
      const mine = approvals.filter((a) => a.stageId === stage.id).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      const good = mine.find((a) => a.status === "signed" && sigByLayer.get(a.layerDigest)?.verdict === "verified");
      if (good) {
        return { stage: stage.name, position: stage.position, state: "approved", detail: `signed by ${sigByLayer.get(good.layerDigest)?.keyName ?? "stage key"}`, approvedAt: (good.signedAt ?? good.createdAt).toISOString(), approver: good.approver.name };
      }
      const pending = mine.find((a) => a.status === "signing");
      if (pending) {
        return { stage: stage.name, position: stage.position, state: "signature pending", detail: "approved; the signature is not yet in the registry", approvedAt: null, approver: pending.approver.name };
      }
      const signed = mine.find((a) => a.status === "signed");
      if (signed) {
        const sig = sigByLayer.get(signed.layerDigest);
        return { stage: stage.name, position: stage.position, state: "signed, not verified", detail: sig ? sig.verdict : "the signature layer is missing from the registry", approvedAt: null, approver: signed.approver.name };
      }
      return { stage: stage.name, position: stage.position, state: "not approved", detail: "no approval", approvedAt: null, approver: null };
    });
  const passed = statuses.filter((s) => s.state === "approved");
  return { statuses, current: passed.length ? passed[passed.length - 1]!.stage : null };
}

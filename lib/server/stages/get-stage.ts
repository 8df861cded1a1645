import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { stageGates } from "./stage-gates";

export async function getStage({ name }: { name: string }) {
  const s = await db.stage.findUnique({
    where: { name },
    include: {
      reviewerGroups: { include: { group: { select: { name: true } } } },
      waiverGroup: { select: { name: true } },
      keys: { where: { revokedAt: null }, orderBy: { createdAt: "desc" }, take: 1, select: { name: true, fingerprint: true } },
    },
  });
  if (!s) throw new AppError("NOT_FOUND", `unknown stage ${name}`);
  return {
    name: s.name,
    position: s.position,
    requiredApprovals: s.requiredApprovals,
    reviewerGroups: s.reviewerGroups.map((g) => g.group.name),
    waiverGroup: s.waiverGroup?.name ?? null,
    gates: stageGates(s),
    keyBackend: s.keyBackend,
    emitBundle: s.emitBundle,
    approvalTtlDays: s.approvalTtlDays,
    onRegression: s.onRegression,
    regressionGraceHours: s.regressionGraceHours,
    key: s.keys[0] ?? null,
  };
}

import "server-only";
import { db, type Prisma } from "../../db";
import type { GateConfig } from "../../policy/gates";
import { type Actor } from "../actor";
import { JsonColumnError } from "../json-columns";
import { stageGates } from "./stage-gates";

export interface StageListEntry {
  name: string;
  position: number;
  requiredApprovals: number;
  reviewerGroups: string[];
  waiverGroup: string | null;
  /** null when the stored gates are unreadable: approvals at this stage then fail closed, and `gatesError` says why. */
  gates: GateConfig | null;
  gatesError: string | null;
  keyBackend: string;
  emitBundle: boolean;
  approvalTtlDays: number | null;
  onRegression: string;
  regressionGraceHours: number;
  key: { name: string; fingerprint: string } | null;
}

/** What a stage row is read with, for the list and for one stage (get-stage.ts). */
export const STAGE_INCLUDE = {
  reviewerGroups: { include: { group: { select: { name: true } } } },
  waiverGroup: { select: { name: true } },
  keys: { where: { revokedAt: null }, orderBy: { createdAt: "desc" }, take: 1, select: { name: true, fingerprint: true } },
} as const satisfies Prisma.StageInclude;

type StageRow = Prisma.StageGetPayload<{ include: typeof STAGE_INCLUDE }>;

/** A stage as the API and the Stages page show it, with its gates as read (or null and the reason). */
export function stageEntry(s: StageRow, gates: GateConfig | null, gatesError: string | null): StageListEntry {
  return {
    name: s.name,
    position: s.position,
    requiredApprovals: s.requiredApprovals,
    reviewerGroups: s.reviewerGroups.map((g) => g.group.name),
    waiverGroup: s.waiverGroup?.name ?? null,
    gates,
    gatesError,
    keyBackend: s.keyBackend,
    emitBundle: s.emitBundle,
    approvalTtlDays: s.approvalTtlDays,
    onRegression: s.onRegression,
    regressionGraceHours: s.regressionGraceHours,
    key: s.keys[0] ?? null,
  };
}

/**
 * Every stage in order, in one query. A stage whose stored gates no longer parse is listed with `gates: null` and the
 * reason, rather than failing the whole list: the Stages page is where an admin sets them again. (Approving at that
 * stage still fails closed, see stage-gates.ts.)
 */
export async function listStages(_: { actor: Actor }): Promise<StageListEntry[]> {
  const rows = await db.stage.findMany({ orderBy: { position: "asc" }, include: STAGE_INCLUDE });
  return rows.map((s) => {
    try {
      return stageEntry(s, stageGates(s), null);
    } catch (e) {
      if (!(e instanceof JsonColumnError)) throw e;
      return stageEntry(s, null, e.message);
    }
  });
}

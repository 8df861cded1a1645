import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { GateConfigError, parseGateConfig, type GateConfig } from "../../policy/gates";
import { getStage } from "./get-stage";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { createSigningKey } from "../keys/create-signing-key";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";

export interface StageSettings {
  requiredApprovals?: number;
  /** Group names whose members review this stage. Empty: any user with role reviewer. */
  reviewerGroups?: string[];
  /** Group name whose members may grant waivers, or null for none. */
  waiverGroup?: string | null;
  gates?: unknown;
  emitBundle?: boolean;
  /** Approvals stop counting this many days after their trusted time (TSA, else Imprimatur's record); null = never. */
  approvalTtlDays?: number | null;
  /** When re-evaluation finds the gates of an approved image no longer hold: flag it (verify warns) or revoke it. */
  onRegression?: "flag" | "revoke-after";
  /** For "revoke-after": hours between "at risk" and the revocation, for a waiver or a fix to arrive. */
  regressionGraceHours?: number;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

async function resolveGroups(names: string[]) {
  const unique = [...new Set(names)];
  const rows = await db.group.findMany({ where: { name: { in: unique } }, select: { id: true, name: true } });
  const unknown = unique.filter((n) => !rows.some((r) => r.name === n));
  if (unknown.length) throw new AppError("INVALID_INPUT", `unknown groups: ${unknown.join(", ")}`, "reviewerGroups");
  return rows;
}

function gatesOf(input: unknown): GateConfig {
  try {
    return parseGateConfig(input);
  } catch (e) {
    if (e instanceof GateConfigError) throw new AppError("INVALID_INPUT", e.message, "gates");
    throw e;
  }
}

/** Refuses a bad stage name or setting with a 422 naming the field. */
function validateSettings(name: string, settings: StageSettings): void {
  if (!NAME.test(name)) throw new AppError("INVALID_INPUT", "stage name: 1-32 lowercase letters, digits and -", "name");
  if (
    settings.requiredApprovals !== undefined &&
    (!Number.isInteger(settings.requiredApprovals) || settings.requiredApprovals < 1 || settings.requiredApprovals > 50)
  ) {
    throw new AppError("INVALID_INPUT", "required approvals must be an integer from 1 to 50", "requiredApprovals");
  }
  if (
    settings.approvalTtlDays !== undefined &&
    settings.approvalTtlDays !== null &&
    (!Number.isInteger(settings.approvalTtlDays) || settings.approvalTtlDays < 1 || settings.approvalTtlDays > 3650)
  ) {
    throw new AppError("INVALID_INPUT", "approvalTtlDays must be an integer from 1 to 3650, or null for approvals that never expire", "approvalTtlDays");
  }
  if (settings.onRegression !== undefined && settings.onRegression !== "flag" && settings.onRegression !== "revoke-after")
    throw new AppError("INVALID_INPUT", 'onRegression must be "flag" or "revoke-after"', "onRegression");
  if (
    settings.regressionGraceHours !== undefined &&
    (!Number.isInteger(settings.regressionGraceHours) || settings.regressionGraceHours < 0 || settings.regressionGraceHours > 24 * 365)
  ) {
    throw new AppError("INVALID_INPUT", "regressionGraceHours must be a whole number of hours from 0 to 8760", "regressionGraceHours");
  }
}

/**
 * Creates a stage at the end of the ordered list (or updates an existing one): reviewer groups, N distinct
 * approvals, the waiver group and the gates. A new stage gets its own P-256 signing key. Admins only; audited.
 */
export async function upsertStage({ actor, name, settings }: { actor: Actor; name: string; settings: StageSettings }) {
  requireRole(actor, ["admin"], "configuring stages");
  validateSettings(name, settings);
  const gates = settings.gates === undefined ? undefined : gatesOf(settings.gates);
  const reviewers = settings.reviewerGroups ? await resolveGroups(settings.reviewerGroups) : undefined;
  const waiver = settings.waiverGroup ? (await resolveGroups([settings.waiverGroup]))[0]! : settings.waiverGroup === null ? null : undefined;

  const result = await db.$transaction(async (tx) => {
    // New gates, a new N or new reviewer groups (an approval counts only while its approver may approve, and the stage's
    // N as it is now applies: approval-quorum.ts), or a new onRegression policy: every approved image is judged again.
    await requestReevaluation(tx, { trigger: "stage" });
    const before = await tx.stage.findUnique({ where: { name }, include: { reviewerGroups: { include: { group: true } }, waiverGroup: true } });
    const data = {
      ...(settings.requiredApprovals !== undefined ? { requiredApprovals: settings.requiredApprovals } : {}),
      ...(gates !== undefined ? { gates: gates as object } : {}),
      ...(waiver !== undefined ? { waiverGroupId: waiver?.id ?? null } : {}),
      ...(settings.emitBundle !== undefined ? { emitBundle: settings.emitBundle } : {}),
      ...(settings.approvalTtlDays !== undefined ? { approvalTtlDays: settings.approvalTtlDays } : {}),
      ...(settings.onRegression !== undefined ? { onRegression: settings.onRegression } : {}),
      ...(settings.regressionGraceHours !== undefined ? { regressionGraceHours: settings.regressionGraceHours } : {}),
      updatedAt: new Date(),
    };
    let stage;
    if (before) stage = await tx.stage.update({ where: { id: before.id }, data });
    else {
      const last = await tx.stage.findFirst({ orderBy: { position: "desc" }, select: { position: true } });
      stage = await tx.stage.create({ data: { name, position: (last?.position ?? 0) + 1, ...data } });
    }
    if (reviewers) {
      await tx.stageReviewerGroup.deleteMany({ where: { stageId: stage.id } });
      await tx.stageReviewerGroup.createMany({ data: reviewers.map((g) => ({ stageId: stage.id, groupId: g.id })) });
    }
    await appendAuditEvent(tx, {
      actor,
      action: before ? "stage.update" : "stage.create",
      target: name,
      detail: {
        before: before
          ? {
              requiredApprovals: before.requiredApprovals,
              gates: before.gates,
              reviewerGroups: before.reviewerGroups.map((g) => g.group.name),
              waiverGroup: before.waiverGroup?.name ?? null,
              emitBundle: before.emitBundle,
              approvalTtlDays: before.approvalTtlDays,
              onRegression: before.onRegression,
              regressionGraceHours: before.regressionGraceHours,
            }
          : null,
        after: {
          requiredApprovals: stage.requiredApprovals,
          gates: stage.gates,
          reviewerGroups: reviewers?.map((g) => g.name) ?? before?.reviewerGroups.map((g) => g.group.name) ?? [],
          waiverGroup: waiver === undefined ? (before?.waiverGroup?.name ?? null) : (waiver?.name ?? null),
          emitBundle: stage.emitBundle,
          approvalTtlDays: stage.approvalTtlDays,
          onRegression: stage.onRegression,
          regressionGraceHours: stage.regressionGraceHours,
        },
      },
    });
    if (!before) await createSigningKey({ actor, name: `stage-${name}-key`, stageId: stage.id, tx });
    return stage;
  });
  return getStage({ name: result.name });
}

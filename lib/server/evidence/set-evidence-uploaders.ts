import "server-only";
import { db } from "../../db";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { AppError } from "../../errors";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { recountRegistryEvidence } from "./recount-registry-evidence";

export interface EvidenceUploaderRuleInput {
  /** Repository glob, as trust scopes: `apps/*`, `team-a/**`, `**`. */
  pattern: string;
  /** The group whose members may attach evidence to matching repositories. */
  group: string;
}

const PATTERN = /^[a-z0-9._\-/*?]{1,255}$/;

/**
 * Replaces the evidence-uploader rules (admin only), audited with the old and new lists. An empty list means
 * "any developer, reviewer or admin may attach evidence anywhere". Unsigned registry evidence is counted again
 * under the new rules in the same transaction (recountRegistryEvidence), which also settles a one-off recount an
 * upgrade left owed (run-pending-evidence-recount.ts).
 */
export async function setEvidenceUploaders({ actor, rules }: { actor: Actor; rules: EvidenceUploaderRuleInput[] }) {
  requireRole(actor, ["admin"], "changing who may attach evidence");
  if (rules.length > 200) throw new AppError("INVALID_INPUT", "at most 200 rules", "rules");
  rules.forEach((r, i) => {
    if (!PATTERN.test(r.pattern))
      throw new AppError("INVALID_INPUT", `rules[${i}].pattern must be a repository pattern such as apps/*, team/** or **`, `rules[${i}].pattern`);
  });
  const names = [...new Set(rules.map((r) => r.group))];
  return db.$transaction(
    async (tx) => {
      // Registry ingests take this lock shared: none stores a document judged by the rules being replaced.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.evidenceUploaderRules}::int, 0)`;
      const groups = await tx.group.findMany({ where: { name: { in: names } }, select: { id: true, name: true } });
      const byName = new Map(groups.map((g) => [g.name, g.id]));
      const unknown = names.filter((n) => !byName.has(n));
      if (unknown.length) throw new AppError("NOT_FOUND", `unknown group ${unknown.slice(0, 3).join(", ")}`, "rules.group");
      const before = await tx.evidenceUploaderRule.findMany({ include: { group: { select: { name: true } } } });
      await tx.evidenceUploaderRule.deleteMany({});
      const unique = [...new Map(rules.map((r) => [`${r.pattern}\u0000${r.group}`, r])).values()];
      await tx.evidenceUploaderRule.createMany({
        data: unique.map((r) => ({ pattern: r.pattern, groupId: byName.get(r.group)!, createdBy: actorLabel(actor) })),
      });
      const recounted = await recountRegistryEvidence(
        tx,
        unique.map((r) => r.pattern),
      );
      await appendAuditEvent(tx, {
        actor,
        action: "evidence.uploaders.set",
        detail: { before: before.map((r) => ({ pattern: r.pattern, group: r.group.name })), after: unique, registryDocumentsRecounted: recounted },
      });
      return { rules: unique };
    },
    { timeout: 300_000, maxWait: 30_000 },
  );
}

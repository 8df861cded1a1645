import "server-only";
import { db, type Tx } from "../../db";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { AppError } from "../../errors";
import { matchScope } from "../../signing/trust/identities";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { REGISTRY_EVIDENCE_NOT_COUNTED } from "./may-attach-evidence";

export interface EvidenceUploaderRuleInput {
  /** Repository glob, as trust scopes: `apps/*`, `team-a/**`, `**`. */
  pattern: string;
  /** The group whose members may attach evidence to matching repositories. */
  group: string;
}

const PATTERN = /^[a-z0-9._\-/*?]{1,255}$/;

/**
 * Registry evidence no trusted key signed counts only on repositories no rule covers (may-attach-evidence.ts): with
 * the new rules, marks it counted or not counted again, re-matches the advisories of the images whose evidence
 * changed (a VEX may now apply, or no longer) and asks for their stages to be judged again. Returns how many
 * documents changed.
 */
async function recountRegistryEvidence(tx: Tx, patterns: readonly string[]): Promise<number> {
  const repos = await tx.$queryRaw<{ id: string; name: string }[]>`
    SELECT DISTINCT r.id, r.name FROM evidence_documents d JOIN images i ON i.id = d.image_id JOIN repositories r ON r.id = i.repository_id
    WHERE d.source = 'registry' AND d.signature_status <> 'signed'`;
  const covered = repos.filter((r) => patterns.some((p) => matchScope(p, r.name))).map((r) => r.id);
  const changed = await tx.$queryRaw<{ image_id: string }[]>`
    WITH want AS (
      SELECT d.id, CASE WHEN i.repository_id = ANY(${covered}::uuid[]) THEN ${REGISTRY_EVIDENCE_NOT_COUNTED} END AS not_counted
      FROM evidence_documents d JOIN images i ON i.id = d.image_id
      WHERE d.source = 'registry' AND d.signature_status <> 'signed')
    UPDATE evidence_documents d SET not_counted = w.not_counted FROM want w
    WHERE d.id = w.id AND d.not_counted IS DISTINCT FROM w.not_counted
    RETURNING d.image_id`;
  const imageIds = [...new Set(changed.map((c) => c.image_id))];
  for (const imageId of imageIds) await rematchImageAdvisories(tx, { imageId });
  await requestReevaluation(tx, { trigger: "evidence", imageIds });
  return changed.length;
}

/**
 * Replaces the evidence-uploader rules (admin only), audited with the old and new lists. An empty list means
 * "any developer, reviewer or admin may attach evidence anywhere". Unsigned registry evidence is counted again
 * under the new rules in the same transaction (recountRegistryEvidence).
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

import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { matchScope } from "../../signing/trust/identities";
import type { Actor } from "../actor";

/**
 * Who may attach evidence to a repository, as one stated rule: when evidence-uploader rules match the repository,
 * only members of those rules' groups (and admins) may upload evidence for it; when none matches, any developer,
 * reviewer or admin may (the role check is the caller's). Evidence found in the registry is not an upload and is
 * judged by its signature alone.
 */
export async function assertMayAttachEvidence({
  actor,
  repository,
  client = db,
}: {
  actor: Actor;
  repository: string;
  client?: Tx | typeof db;
}): Promise<void> {
  // Admins, and the CLI / system actors that act with admin rights (see hasRole), are not bound by the rules.
  if (actor.kind !== "user" || actor.role === "admin") return;
  const rules = await client.evidenceUploaderRule.findMany({ select: { pattern: true, group: { select: { id: true, name: true } } } });
  const matching = rules.filter((r) => matchScope(r.pattern, repository));
  if (!matching.length) return;
  const groupIds = [...new Set(matching.map((r) => r.group.id))];
  const member = await client.groupMember.findFirst({ where: { userId: actor.id, groupId: { in: groupIds } }, select: { groupId: true } });
  if (member) return;
  const names = [...new Set(matching.map((r) => r.group.name))].sort();
  const patterns = [...new Set(matching.map((r) => `"${r.pattern}"`))].join(", ");
  throw new AppError(
    "FORBIDDEN",
    `evidence for ${repository} is attached by members of group ${names.join(" or ")} (evidence-uploader rule ${patterns}); you are not a member`,
  );
}

import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { matchScope } from "../../signing/trust/identities";
import type { Actor } from "../actor";

type Client = Tx | typeof db;

/** The evidence-uploader rules whose pattern matches `repository` (none: the repository is not covered). */
export async function matchingUploaderRules(client: Client, repository: string) {
  const rules = await client.evidenceUploaderRule.findMany({ select: { pattern: true, group: { select: { id: true, name: true } } } });
  return rules.filter((r) => matchScope(r.pattern, repository));
}

/** Why a registry document does not count (evidence_documents.not_counted), as the evidence page shows it. */
export const REGISTRY_EVIDENCE_NOT_COUNTED = "unsigned registry evidence; uploader rules apply to this repository";

/**
 * Whether evidence found in the registry counts in gates and advisory matching. Whoever can push to the repository
 * (the developer who built the image) can attach a referrer, so where evidence-uploader rules cover the repository
 * a registry document counts only when a key trusted for its kind signed it (the trust the upload path accepts in
 * place of an uploader). Otherwise it is stored and shown with this reason, and changes no gate and no finding.
 */
export function registryNotCounted(source: "upload" | "registry", signatureStatus: string, covered: boolean): string | null {
  return source === "registry" && signatureStatus !== "signed" && covered ? REGISTRY_EVIDENCE_NOT_COUNTED : null;
}

/**
 * Who may attach evidence to a repository, as one stated rule: when evidence-uploader rules match the repository,
 * only members of those rules' groups (and admins) may upload evidence for it; when none matches, any developer,
 * reviewer or admin may (the role check is the caller's). Evidence found in the registry is not an upload: on a
 * covered repository it counts only when signed by a trusted key (registryNotCounted).
 */
export async function assertMayAttachEvidence({ actor, repository, client = db }: { actor: Actor; repository: string; client?: Client }): Promise<void> {
  // Admins, and the CLI / system actors that act with admin rights (see hasRole), are not bound by the rules.
  if (actor.kind !== "user" || actor.role === "admin") return;
  const matching = await matchingUploaderRules(client, repository);
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

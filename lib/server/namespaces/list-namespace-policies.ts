import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/**
 * Which stage each Kubernetes namespace requires at admission, or whether it is exempt. Every signed-in role may
 * read them (they explain ImageReview answers). Lives outside lib/server/admission only because that folder was being
 * restructured at the time; it belongs next to setNamespacePolicy.
 */
export async function listNamespacePolicies({ actor: _actor }: { actor: Actor }) {
  const rows = await db.namespacePolicy.findMany({ include: { stage: { select: { name: true } } }, orderBy: { namespace: "asc" } });
  return rows.map((r) => ({ namespace: r.namespace, stage: r.stage?.name ?? null, exempt: r.exempt, updatedAt: r.updatedAt }));
}

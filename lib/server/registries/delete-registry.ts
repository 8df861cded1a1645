import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { findRegistry } from "./find-registry";

/** Approvals are evidence: a registry whose images were approved can be disabled but not deleted. */
export async function deleteRegistry({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing registries");
  const r = await findRegistry(name);
  const approvals = await db.approval.count({ where: { image: { repository: { registryId: r.id } } } });
  if (approvals > 0) throw new AppError("CONFLICT", `registry ${name} has ${approvals} approval(s), which are kept as evidence; disable it instead`);
  await db.$transaction(async (tx) => {
    await tx.registry.delete({ where: { id: r.id } });
    await appendAuditEvent(tx, { actor, action: "registry.delete", target: name, detail: { url: r.url } });
  });
  return { deleted: name };
}

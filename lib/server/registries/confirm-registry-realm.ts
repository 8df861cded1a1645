import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { registryView } from "./registry-view";
import { findRegistry } from "./find-registry";

export async function confirmRegistryRealm({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "confirming a token realm");
  const r = await findRegistry(name);
  if (!r.pendingRealm) throw new AppError("CONFLICT", "no changed realm is waiting for confirmation");
  return db.$transaction(async (tx) => {
    const updated = await tx.registry.update({ where: { id: r.id }, data: { tokenRealm: r.pendingRealm, pendingRealm: null, updatedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "registry.realm.confirm", target: name, detail: { from: r.tokenRealm, to: r.pendingRealm } });
    return registryView(updated);
  });
}

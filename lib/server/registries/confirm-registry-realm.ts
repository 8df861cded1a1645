import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { registryView } from "./registry-view";
import { rebindCredentials } from "./credentials";
import { findRegistry } from "./find-registry";

/**
 * Makes the registry's pending token realm its realm (credentials then go there). `realm` is the one the admin was
 * shown: a later connection test may have replaced the pending realm (a registry can announce another each time), and
 * a click on a stale page would then have sent the credentials to a realm nobody saw (found by review). The row is
 * read under its lock, so the check and the change are one.
 */
export async function confirmRegistryRealm({ actor, name, realm }: { actor: Actor; name: string; realm?: string }) {
  requireRole(actor, ["admin"], "confirming a token realm");
  const r = await findRegistry(name);
  return db.$transaction(async (tx) => {
    const [row] = await tx.$queryRaw<{ token_realm: string | null; pending_realm: string | null }[]>`
      SELECT token_realm, pending_realm FROM registries WHERE id = ${r.id}::uuid FOR UPDATE`;
    const pending = row?.pending_realm ?? null;
    if (!pending) throw new AppError("CONFLICT", "no changed realm is waiting for confirmation");
    if (realm !== undefined && realm !== pending)
      throw new AppError("CONFLICT", `the realm waiting for confirmation is now ${pending}, not ${realm}; check it and confirm again`, "realm");
    // Credentials are sealed for the pinned realm (credentials.ts): confirming a new one seals them again for it.
    const now = await tx.registry.findUniqueOrThrow({ where: { id: r.id } });
    const binding = { url: now.url, tokenRealm: pending, caBundle: now.caBundle };
    const updated = await tx.registry.update({
      where: { id: r.id },
      data: {
        tokenRealm: pending,
        pendingRealm: null,
        updatedAt: new Date(),
        readCredentials: rebindCredentials(now, binding, "read", now.readCredentials),
        pushCredentials: rebindCredentials(now, binding, "push", now.pushCredentials),
      },
    });
    await appendAuditEvent(tx, { actor, action: "registry.realm.confirm", target: name, detail: { from: row!.token_realm, to: pending } });
    return registryView(updated);
  });
}

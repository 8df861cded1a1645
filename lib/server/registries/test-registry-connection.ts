import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { registryClient, resolveRegistry } from "./resolve-registry";
import { registryView } from "./registry-view";
import { rebindCredentials } from "./credentials";
import { jsonColumn, registryLastTestResultColumn } from "../json-columns";

/**
 * Tries the registry and reports exactly what failed (DNS, TLS, connection, a 401 with the challenge seen,
 * or a 404 on /v2/). On success it records the token realm; a realm that differs from the recorded one is
 * held as pending, and credentials are not sent to it until an admin confirms it.
 */
export async function testRegistryConnection({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "testing registry connections");
  const r = await resolveRegistry(name);
  let seenRealm: string | null = null;
  const client = registryClient(r, "read", { testing: true, onRealmSeen: (realm) => (seenRealm = realm) });
  const result = await client.testConnection();
  const realmChanged = Boolean(seenRealm && r.tokenRealm && seenRealm !== r.tokenRealm);
  const report = {
    ...result,
    ...(seenRealm ? { realm: seenRealm } : {}),
    ...(realmChanged
      ? {
          realmChanged: true as const,
          message: `the token realm changed from ${r.tokenRealm} to ${seenRealm}; credentials were not sent to it. An admin must confirm the new realm.`,
        }
      : {}),
  };
  const updated = await db.$transaction(async (tx) => {
    // Credentials are sealed for the pinned realm too (credentials.ts): recording the first realm seals them again for
    // it. Read under the row's lock, so credentials an admin changed while the test ran are the ones re-sealed, and a
    // realm seen at a URL changed meanwhile is not recorded for the new one.
    await tx.$queryRaw`SELECT 1 FROM registries WHERE id = ${r.id}::uuid FOR UPDATE`;
    const now = await tx.registry.findUniqueOrThrow({ where: { id: r.id } });
    const realm = seenRealm && !r.tokenRealm && result.ok && now.url === r.url && !now.tokenRealm ? seenRealm : null;
    const binding = { url: now.url, tokenRealm: realm, caBundle: now.caBundle };
    const u = await tx.registry.update({
      where: { id: r.id },
      data: {
        lastTestAt: new Date(),
        lastTestResult: jsonColumn(registryLastTestResultColumn, report),
        ...(realm
          ? {
              tokenRealm: realm,
              readCredentials: rebindCredentials(now, binding, "read", now.readCredentials),
              pushCredentials: rebindCredentials(now, binding, "push", now.pushCredentials),
            }
          : {}),
        ...(realmChanged ? { pendingRealm: seenRealm } : {}),
      },
    });
    await appendAuditEvent(tx, { actor, action: "registry.test", outcome: result.ok ? "success" : "failure", target: r.name, detail: report });
    return u;
  });
  return { result: report, registry: registryView(updated) };
}

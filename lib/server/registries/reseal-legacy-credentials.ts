import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { isLegacySealedCredentials, rebindCredentials, type CredentialsPurpose } from "./credentials";

const resealer: Actor = { kind: "system", label: "credentials-reseal" };

/**
 * Seals again, for the registry's current URL origin and token realm, the credentials sealed before they were bound to
 * them (credentials.ts). Run at start-up: until then such a blob opens under its old associated data wherever the
 * row's URL points, so a URL changed outside the app before the upgrade's first start is the one it gets bound to
 * (the README's upgrade note). Safe with several replicas at once: each row is read again under its lock, and one
 * that another replica re-sealed has nothing left to do. A blob that does not open (another master key) is left as
 * it is and named in the result; using it fails the same way.
 */
export async function resealLegacyRegistryCredentials(): Promise<{ resealed: string[]; failed: { registry: string; message: string }[] }> {
  const rows = await db.registry.findMany({ select: { id: true, name: true, readCredentials: true, pushCredentials: true }, orderBy: { name: "asc" } });
  const legacy = (b: Uint8Array | null): b is Uint8Array => b !== null && isLegacySealedCredentials(b);
  const resealed: string[] = [];
  const failed: { registry: string; message: string }[] = [];
  for (const row of rows.filter((r) => legacy(r.readCredentials) || legacy(r.pushCredentials))) {
    try {
      const done = await db.$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 1 FROM registries WHERE id = ${row.id}::uuid FOR UPDATE`;
        const r = await tx.registry.findUnique({ where: { id: row.id } });
        if (!r) return false;
        const purposes = (["read", "push"] as CredentialsPurpose[]).filter((p) => legacy(p === "read" ? r.readCredentials : r.pushCredentials));
        if (!purposes.length) return false;
        const to = { url: r.url, tokenRealm: r.tokenRealm, caBundle: r.caBundle };
        await tx.registry.update({
          where: { id: r.id },
          data: {
            ...(purposes.includes("read") ? { readCredentials: rebindCredentials(r, to, "read", r.readCredentials) } : {}),
            ...(purposes.includes("push") ? { pushCredentials: rebindCredentials(r, to, "push", r.pushCredentials) } : {}),
          },
        });
        await appendAuditEvent(tx, {
          actor: resealer,
          action: "registry.credentials.reseal",
          target: r.name,
          detail: { url: to.url, tokenRealm: to.tokenRealm, credentials: purposes },
        });
        return true;
      });
      if (done) resealed.push(row.name);
    } catch (e) {
      failed.push({ registry: row.name, message: (e as Error).message });
    }
  }
  return { resealed, failed };
}

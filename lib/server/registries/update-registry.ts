import "server-only";
import { trimTrailingSlashes } from "../../oci/reference";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { rebindCredentials, sealCredentials } from "./credentials";
import type { UpdateRegistryInput } from "./registry-input";
import { registryView } from "./registry-view";
import { checkRegistryUrl, findRegistry } from "./find-registry";

export async function updateRegistry({ actor, name, input }: { actor: Actor; name: string; input: UpdateRegistryInput }) {
  requireRole(actor, ["admin"], "managing registries");
  const r = await findRegistry(name);
  const url = input.url !== undefined ? trimTrailingSlashes(input.url) : r.url;
  const allowLinkLocal = input.allowLinkLocal ?? r.allowLinkLocal;
  if (input.url !== undefined || input.allowLinkLocal !== undefined) await checkRegistryUrl(url, allowLinkLocal);
  const urlChanged = url !== r.url;
  // Secrets stay with the origin they were given for: a new scheme, host or port clears the sealed read and push
  // credentials unless this same request gives them again (an admin session alone must not be able to redirect
  // them to a host of its choosing).
  const originChanged = new URL(url).origin !== new URL(r.url).origin;
  const clearRead = originChanged && input.readCredentials === undefined && r.readCredentials !== null;
  const clearPush = originChanged && input.pushCredentials === undefined && r.pushCredentials !== null;
  // Credentials are sealed for the URL's origin and the pinned token realm (credentials.ts). A new URL resets the
  // realm, so credentials given now are sealed for the new binding, and those kept (same origin) are sealed again.
  const caBundle = input.caBundle !== undefined ? input.caBundle : r.caBundle;
  const binding = { url, tokenRealm: urlChanged ? null : r.tokenRealm, caBundle };
  const credentialsData = (purpose: "read" | "push", given: UpdateRegistryInput["readCredentials"], clear: boolean, stored: Uint8Array | null) => {
    if (given !== undefined) return given ? sealCredentials({ id: r.id, ...binding }, purpose, given) : null;
    if (clear) return null;
    return urlChanged || caBundle !== r.caBundle ? rebindCredentials(r, binding, purpose, stored) : undefined;
  };
  const readCredentials = credentialsData("read", input.readCredentials, clearRead, r.readCredentials);
  const pushCredentials = credentialsData("push", input.pushCredentials, clearPush, r.pushCredentials);
  return db.$transaction(async (tx) => {
    const updated = await tx.registry.update({
      where: { id: r.id },
      data: {
        url,
        updatedAt: new Date(),
        ...(input.pullName !== undefined ? { pullName: input.pullName } : {}),
        ...(input.caBundle !== undefined ? { caBundle: input.caBundle } : {}),
        ...(input.repositories !== undefined ? { repositoryList: input.repositories } : {}),
        ...(input.syncIntervalMinutes !== undefined ? { syncIntervalMin: input.syncIntervalMinutes } : {}),
        ...(input.allowLinkLocal !== undefined ? { allowLinkLocal: input.allowLinkLocal } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        ...(readCredentials !== undefined ? { readCredentials } : {}),
        ...(pushCredentials !== undefined ? { pushCredentials } : {}),
        // A new URL means a new trust decision about where credentials may go.
        ...(urlChanged ? { tokenRealm: null, pendingRealm: null } : {}),
      },
    });
    const changed = Object.keys(input).filter((k) => k !== "readCredentials" && k !== "pushCredentials");
    await appendAuditEvent(tx, {
      actor,
      action: "registry.update",
      target: name,
      detail: {
        changed,
        readCredentials: clearRead
          ? "cleared: the URL's origin changed"
          : input.readCredentials === undefined
            ? "unchanged"
            : input.readCredentials
              ? "set"
              : "cleared",
        pushCredentials: clearPush
          ? "cleared: the URL's origin changed"
          : input.pushCredentials === undefined
            ? "unchanged"
            : input.pushCredentials
              ? "set"
              : "cleared",
      },
    });
    return registryView(updated);
  });
}

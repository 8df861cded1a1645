import "server-only";
import type { RegistryRow } from "./resolve-registry";

/** What APIs and pages show of a registry: never the credentials, only whether they are set. */
export function registryView(r: RegistryRow) {
  return {
    id: r.id,
    name: r.name,
    url: r.url,
    pullName: r.pullName,
    enabled: r.enabled,
    caBundle: r.caBundle ? true : false,
    readCredentials: r.readCredentials ? "set" : null,
    pushCredentials: r.pushCredentials ? "set" : null,
    tokenRealm: r.tokenRealm,
    pendingRealm: r.pendingRealm,
    allowLinkLocal: r.allowLinkLocal,
    repositories: r.repositoryList,
    syncIntervalMinutes: r.syncIntervalMin,
    webhookToken: r.webhookTokenHash ? "set" : null,
    lastSyncAt: r.lastSyncAt?.toISOString() ?? null,
    lastSyncInfo: r.lastSyncInfo,
    lastTestAt: r.lastTestAt?.toISOString() ?? null,
    lastTestResult: r.lastTestResult,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type RegistryView = ReturnType<typeof registryView>;

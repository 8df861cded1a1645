import "server-only";
import { readDisplayJson, registryLastSyncInfoColumn, registryLastTestResultColumn } from "../json-columns";
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
    // Display only: what parses is shown; an unreadable value shows as none (and is logged with the row).
    lastSyncInfo:
      r.lastSyncInfo === null
        ? null
        : readDisplayJson(registryLastSyncInfoColumn, r.lastSyncInfo, { table: "registries", column: "last_sync_info", id: r.id }).value,
    lastTestAt: r.lastTestAt?.toISOString() ?? null,
    lastTestResult:
      r.lastTestResult === null
        ? null
        : readDisplayJson(registryLastTestResultColumn, r.lastTestResult, { table: "registries", column: "last_test_result", id: r.id }).value,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

export type RegistryView = ReturnType<typeof registryView>;

import "server-only";
import { trimTrailingSlashes } from "../../oci/reference";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { RegistryClient } from "../../oci/client";
import { openCredentials } from "./credentials";
import { registryErrorToAppError } from "./registry-error";

export type RegistryRow = NonNullable<Awaited<ReturnType<typeof db.registry.findFirst>>>;

/**
 * Makes sure the registry named by REGISTRY_URL exists as registry "default", following the env if it changes
 * (the demo's local registry may come back on another port).
 */
export async function ensureDefaultRegistry(): Promise<RegistryRow | null> {
  const { REGISTRY_URL, REGISTRY_PULL_NAME } = env();
  if (!REGISTRY_URL) return null;
  const url = trimTrailingSlashes(REGISTRY_URL);
  const pullName = REGISTRY_PULL_NAME ?? null;
  const existing = await db.registry.findUnique({ where: { name: "default" } });
  if (existing && existing.url === url && existing.pullName === pullName) return existing;
  return db.registry.upsert({ where: { name: "default" }, create: { name: "default", url, pullName }, update: { url, pullName } });
}

/** A registry by name, or the only one when no name is given. */
export async function resolveRegistry(name?: string | null): Promise<RegistryRow> {
  await ensureDefaultRegistry();
  if (name) {
    const r = await db.registry.findUnique({ where: { name } });
    if (!r) throw new AppError("NOT_FOUND", `no registry named ${name}`, "registry");
    return r;
  }
  const all = await db.registry.findMany({ take: 10, orderBy: { name: "asc" } });
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw new AppError("NOT_FOUND", "no registry is configured (set REGISTRY_URL)", "registry");
  throw new AppError("INVALID_INPUT", `registry is required: several are configured (${all.map((r) => r.name).join(", ")})`, "registry");
}

/**
 * A client for one registry and purpose. Push credentials fall back to read credentials. Credentials go only
 * to the registry and to the token realm it was tested with: a realm that differs from the recorded one is
 * refused until an admin confirms it (see confirmRegistryRealm).
 */
export function registryClient(
  r: RegistryRow,
  purpose: "read" | "push" = "read",
  opts: { testing?: boolean; onRealmSeen?: (realm: string) => void; onRequest?: (method: string, url: URL) => void } = {},
): RegistryClient {
  const creds =
    purpose === "push"
      ? (openCredentials(r.id, "push", r.pushCredentials) ?? openCredentials(r.id, "read", r.readCredentials))
      : openCredentials(r.id, "read", r.readCredentials);
  return new RegistryClient({
    url: r.url,
    timeoutMs: env().REGISTRY_TIMEOUT_MS,
    ...(creds ? { username: creds.username, password: creds.password } : {}),
    ...(r.caBundle ? { ca: r.caBundle } : {}),
    allowLinkLocal: r.allowLinkLocal,
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    onRealm: (realm: string) => {
      opts.onRealmSeen?.(realm);
      // "Test connection" records the realm on first success; afterwards credentials go only to that realm.
      if (!creds || r.tokenRealm === realm) return;
      if (opts.testing && !r.tokenRealm) return;
      throw new OciError(
        "UNAUTHORIZED",
        `token realm ${realm} is not the recorded realm${r.tokenRealm ? ` (${r.tokenRealm})` : ""}; run "Test connection" and confirm the realm`,
      );
    },
  });
}

/** Maps registry-client errors to the API's error codes (see registryErrorToAppError, the one translator). */
export const toAppError = (e: unknown, what: string): unknown => registryErrorToAppError(e, what);

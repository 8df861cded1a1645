import "server-only";
import { trimTrailingSlashes } from "../../oci/reference";
import { bulkQuery, db, Prisma } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { RegistryClient } from "../../oci/client";
import { openCredentials, rebindCredentials, type CredentialsPurpose } from "./credentials";
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
  // Credentials are sealed for the URL's origin. REGISTRY_URL is the operator's (who holds the master key), so they
  // follow it. A blob that does not open for the stored URL is left as it is: that URL was written outside the app,
  // and the blob may well be sealed for REGISTRY_URL's own origin.
  const follow = (purpose: CredentialsPurpose, sealed: Uint8Array | null): Uint8Array<ArrayBuffer> | null | undefined => {
    if (!existing || !sealed || existing.url === url) return undefined;
    try {
      return rebindCredentials(existing, { url, tokenRealm: existing.tokenRealm, caBundle: existing.caBundle }, purpose, sealed);
    } catch {
      return undefined;
    }
  };
  return db.registry.upsert({
    where: { name: "default" },
    create: { name: "default", url, pullName },
    update: {
      url,
      pullName,
      readCredentials: follow("read", existing?.readCredentials ?? null),
      pushCredentials: follow("push", existing?.pushCredentials ?? null),
    },
  });
}

/**
 * Every column of `registries`, named as Prisma names them, so a raw read returns the same RegistryRow as
 * `db.registry.findUnique` (resolve-registry.int.test.ts compares the two).
 */
const REGISTRY_COLUMNS = Prisma.sql`id::text AS "id", name, url, pull_name AS "pullName", created_at AS "createdAt", updated_at AS "updatedAt",
  enabled, ca_bundle AS "caBundle", read_credentials AS "readCredentials", push_credentials AS "pushCredentials",
  token_realm AS "tokenRealm", pending_realm AS "pendingRealm", allow_link_local AS "allowLinkLocal",
  repository_list AS "repositoryList", sync_interval_min AS "syncIntervalMin", webhook_token_hash AS "webhookTokenHash",
  last_sync_at AS "lastSyncAt", last_sync_info AS "lastSyncInfo", last_test_at AS "lastTestAt", last_test_result AS "lastTestResult"`;

type Candidate = RegistryRow & { wanted: boolean };

/**
 * In one raw statement (no Prisma query to compile: a sync's start paid ~0.2 s for three of them in a fresh
 * process): the registry "default", and either the one named or the first 10 by name (`wanted`).
 */
async function readCandidates(name: string | null | undefined): Promise<Candidate[]> {
  const wanted = name ? Prisma.sql`name = ${name}` : Prisma.sql`id IN (SELECT id FROM registries ORDER BY name LIMIT 10)`;
  const rows = await bulkQuery<Candidate>(Prisma.sql`
    SELECT ${REGISTRY_COLUMNS}, ${wanted} AS wanted FROM registries WHERE name = 'default' OR ${wanted} ORDER BY name`);
  // bytea arrives as a Buffer; Prisma's Bytes are plain Uint8Arrays.
  for (const r of rows) {
    if (r.readCredentials) r.readCredentials = new Uint8Array(r.readCredentials);
    if (r.pushCredentials) r.pushCredentials = new Uint8Array(r.pushCredentials);
  }
  return rows;
}

/** Whether the stored "default" registry already follows REGISTRY_URL (see ensureDefaultRegistry). */
function defaultIsCurrent(rows: Candidate[]): boolean {
  const { REGISTRY_URL, REGISTRY_PULL_NAME } = env();
  if (!REGISTRY_URL) return true;
  const d = rows.find((r) => r.name === "default");
  return !!d && d.url === trimTrailingSlashes(REGISTRY_URL) && d.pullName === (REGISTRY_PULL_NAME ?? null);
}

/** A registry by name, or the only one when no name is given. */
export async function resolveRegistry(name?: string | null): Promise<RegistryRow> {
  let rows = await readCandidates(name);
  if (!defaultIsCurrent(rows)) {
    // Rare: REGISTRY_URL changed (or the default is missing). Written as before, then read again.
    await ensureDefaultRegistry();
    rows = await readCandidates(name);
  }
  const strip = ({ wanted: _, ...r }: Candidate): RegistryRow => r;
  const found = rows.filter((r) => r.wanted).map(strip);
  if (name) {
    if (!found[0]) throw new AppError("NOT_FOUND", `no registry named ${name}`, "registry");
    return found[0];
  }
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new AppError("NOT_FOUND", "no registry is configured (set REGISTRY_URL)", "registry");
  throw new AppError("INVALID_INPUT", `registry is required: several are configured (${found.map((r) => r.name).join(", ")})`, "registry");
}

/**
 * A client for one registry and purpose. Push credentials fall back to read credentials. Credentials go only
 * to the registry and to the token realm it was tested with: a realm that differs from the recorded one is
 * refused until an admin confirms it (see confirmRegistryRealm).
 */
export function registryClient(
  r: RegistryRow,
  purpose: "read" | "push" = "read",
  opts: {
    testing?: boolean;
    onRealmSeen?: (realm: string) => void;
    onRequest?: (method: string, url: URL) => void;
    /** Tags listed before the listing fails (default 10,000): the audit repository holds one per checkpoint. */
    maxTags?: number;
  } = {},
): RegistryClient {
  const creds =
    purpose === "push"
      ? (openCredentials(r, "push", r.pushCredentials) ?? openCredentials(r, "read", r.readCredentials))
      : openCredentials(r, "read", r.readCredentials);
  return new RegistryClient({
    url: r.url,
    timeoutMs: env().REGISTRY_TIMEOUT_MS,
    ...(creds ? { username: creds.username, password: creds.password } : {}),
    ...(r.caBundle ? { ca: r.caBundle } : {}),
    allowLinkLocal: r.allowLinkLocal,
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    ...(opts.maxTags ? { maxTags: opts.maxTags } : {}),
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

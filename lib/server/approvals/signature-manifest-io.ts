import "server-only";
import type { Tx } from "../../db";
import { AppError } from "../../errors";
import { OciError, type Digest } from "../../oci/digest";
import { jsonDepthExceeds, MAX_REGISTRY_JSON_DEPTH, parseManifest, type ImageManifest } from "../../oci/manifest";
import type { registryClient } from "../registries/resolve-registry";
import { ADVISORY_LOCKS } from "../advisory-locks";

// Namespaces of the per-image advisory locks (first key of pg_advisory_xact_lock(int, int)): every writer of an
// image's `.sig` manifest (push, revocation) and of its referrers fallback tag (bundle push, bundle removal) takes them.
export const SIG_LOCK_NAMESPACE = ADVISORY_LOCKS.signatureManifest;
export const REFERRERS_LOCK_NAMESPACE = ADVISORY_LOCKS.referrers;

/** Serializes writers of one image's cosign `.sig` manifest across replicas, for the rest of `tx`. */
export async function lockSignatureManifest(tx: Tx, registryId: string, repository: string, digest: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SIG_LOCK_NAMESPACE}::int, hashtext(${`${registryId}/${repository}@${digest}`}))`;
}

/** Serializes writers of one subject's referrers fallback tag across replicas, for the rest of `tx`. */
export async function lockReferrers(tx: Tx, registryId: string, repository: string, digest: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REFERRERS_LOCK_NAMESPACE}::int, hashtext(${`${registryId}/${repository}@${digest}`}))`;
}

/** The cosign `.sig` (or `.att`) manifest at `tag` and its config (null when the tag does not exist). Refuses an index. */
export async function readSigManifest(
  client: ReturnType<typeof registryClient>,
  repository: string,
  tag: string,
  what: "signature" | "attestation" = "signature",
): Promise<{ manifest: ImageManifest | null; config: Record<string, unknown> | null }> {
  const manifest = await readSigManifestOnly(client, repository, tag, what);
  return { manifest, config: manifest ? await readSigConfig(client, repository, manifest) : null };
}

/**
 * The cosign `.sig` (or `.att`) manifest at `tag` without its config (null when the tag does not exist), for a reader
 * that needs only its layers (a read-back after a PUT): the config is read only to write a new manifest. Refuses an index.
 */
export async function readSigManifestOnly(
  client: ReturnType<typeof registryClient>,
  repository: string,
  tag: string,
  what: "signature" | "attestation" = "signature",
): Promise<ImageManifest | null> {
  let fetched;
  try {
    fetched = await client.getManifest(repository, tag);
  } catch (e) {
    if (e instanceof OciError && e.code === "NOT_FOUND") return null;
    throw e;
  }
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  if (parsed.kind !== "manifest") throw new AppError("REGISTRY_ERROR", `${tag} is an index, not a cosign ${what} manifest; refusing to overwrite it`);
  return parsed.manifest;
}

/** The config of a cosign manifest as a JSON object, or null when it cannot be read or is not one (it is then rebuilt). */
export async function readSigConfig(client: ReturnType<typeof registryClient>, repository: string, manifest: ImageManifest) {
  try {
    const raw = JSON.parse((await client.getBlob(repository, manifest.config.digest as Digest, 1024 * 1024)).toString("utf8")) as unknown;
    // A config nested too deep to write again is rebuilt rather than kept (JSON.stringify would throw, and no
    // signature could be added to or removed from this manifest).
    if (raw && typeof raw === "object" && !Array.isArray(raw) && !jsonDepthExceeds(raw, MAX_REGISTRY_JSON_DEPTH)) return raw as Record<string, unknown>;
  } catch (e) {
    if (!(e instanceof OciError) && !(e instanceof SyntaxError)) throw e;
  }
  return null;
}

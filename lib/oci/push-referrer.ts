import type { RegistryClient } from "./client";
import { assertDigest, OciError, sha256Digest, type Digest } from "./digest";
import { goLenient, indexSchema, type Descriptor } from "./manifest";
import { MT } from "./media-types";
import { assertRepositoryName, referrersFallbackTag } from "./reference";

/** The OCI empty descriptor (`{}`), the config of an artifact manifest (image-spec v1.1). */
export const EMPTY_CONFIG = {
  mediaType: MT.ociEmpty,
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
  data: "e30=",
} as const;
const EMPTY_CONFIG_BYTES = Buffer.from("{}", "utf8");

export const CREATED_ANNOTATION = "org.opencontainers.image.created";

export interface DescriptorRef {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BuildReferrerManifestOptions {
  /** The image the artifact is about: the manifest's `subject`. */
  subject: DescriptorRef;
  /** Required with the empty config (image-spec v1.1); what the referrers API reports and filters on. */
  artifactType: string;
  /** The single layer: the artifact itself (a Sigstore bundle, an SBOM). */
  blob: DescriptorRef;
  /** Manifest annotations; `org.opencontainers.image.created` is added (now) unless given. */
  annotations?: Record<string, string>;
  /** The creation time to stamp when the annotations lack one. Default: now. */
  created?: Date;
}

function descriptor(d: DescriptorRef, field: string): DescriptorRef {
  if (typeof d?.mediaType !== "string" || !d.mediaType || d.mediaType.length > 255) throw new OciError("INVALID_REFERENCE", `${field}.mediaType is required`);
  assertDigest(d.digest, `${field}.digest`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw new OciError("INVALID_REFERENCE", `${field}.size must be a non-negative integer`);
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** OCI image manifest bytes for an artifact attached to `subject` (config: the empty descriptor, one layer). */
export function buildReferrerManifest(opts: BuildReferrerManifestOptions): Buffer {
  if (typeof opts.artifactType !== "string" || !opts.artifactType || opts.artifactType.length > 255)
    throw new OciError("INVALID_REFERENCE", "artifactType is required");
  const annotations: Record<string, string> = {
    ...(opts.annotations ?? {}),
  };
  // Second precision, RFC 3339, as cosign writes it.
  if (!annotations[CREATED_ANNOTATION]) annotations[CREATED_ANNOTATION] = (opts.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "Z");
  const manifest = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: opts.artifactType,
    config: EMPTY_CONFIG,
    layers: [descriptor(opts.blob, "blob")],
    subject: descriptor(opts.subject, "subject"),
    annotations,
  };
  return Buffer.from(JSON.stringify(manifest), "utf8");
}

/** The descriptor of a referrer manifest, as the referrers API (and its tag fallback) lists it. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType: string;
  annotations?: Record<string, string>;
}

/**
 * The referrers fallback index with `entry` added: `existing` is the index at tag `sha256-<hex>` (null when the tag
 * does not exist). Returns null when `entry` is already listed. Throws when the tag holds something that is not an
 * index: the spec says to report that rather than overwrite it.
 */
export function addToReferrersIndex(existing: Uint8Array | null, entry: ReferrerDescriptor): Buffer | null {
  let base: Record<string, unknown> & { manifests: Descriptor[] } = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  if (existing) {
    let json: unknown;
    try {
      json = goLenient(JSON.parse(Buffer.from(existing).toString("utf8")));
    } catch {
      throw new OciError("BAD_RESPONSE", "the referrers fallback tag holds something that is not JSON");
    }
    const parsed = indexSchema.safeParse(json);
    if (!parsed.success) throw new OciError("BAD_RESPONSE", "the referrers fallback tag holds something that is not an image index; not overwriting it");
    base = { ...(json as Record<string, unknown>), manifests: parsed.data.manifests };
  }
  if (base.manifests.some((d) => d.digest === entry.digest)) return null;
  const next = { ...base, schemaVersion: 2, mediaType: MT.ociIndex, manifests: [...base.manifests, { ...entry }] };
  return Buffer.from(JSON.stringify(next), "utf8");
}

/**
 * The referrers fallback index without `digest`, or null when it is not listed (nothing to write). Other entries and
 * fields are kept as they were. Throws when the tag holds something that is not an index.
 */
export function removeFromReferrersIndex(existing: Uint8Array, digest: string): Buffer | null {
  let json: unknown;
  try {
    json = goLenient(JSON.parse(Buffer.from(existing).toString("utf8")));
  } catch {
    throw new OciError("BAD_RESPONSE", "the referrers fallback tag holds something that is not JSON");
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) throw new OciError("BAD_RESPONSE", "the referrers fallback tag holds something that is not an image index; not overwriting it");
  const raw = json as Record<string, unknown> & { manifests: unknown[] };
  const kept = raw.manifests.filter((m) => !(m && typeof m === "object" && (m as { digest?: unknown }).digest === digest));
  if (kept.length === raw.manifests.length) return null;
  return Buffer.from(JSON.stringify({ ...raw, manifests: kept }), "utf8");
}

function listsEntry(bytes: Uint8Array | null, digest: string): boolean {
  if (!bytes) return false;
  try {
    const parsed = indexSchema.safeParse(goLenient(JSON.parse(Buffer.from(bytes).toString("utf8"))));
    return parsed.success && parsed.data.manifests.some((d) => d.digest === digest);
  } catch {
    return false;
  }
}

export interface PushReferrerOptions {
  client: RegistryClient;
  repository: string;
  subject: DescriptorRef;
  artifactType: string;
  blobBytes: Uint8Array;
  blobMediaType: string;
  annotations?: Record<string, string>;
  /**
   * Serializes the read-modify-write of the fallback tag across our own writers (the server passes a Postgres
   * advisory lock keyed on repository + subject). Without it, concurrent pushes can drop each other's entry; the
   * re-read after the PUT repairs that once either way.
   */
  lock?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Creation time for the manifest annotation. Default: now. */
  created?: Date;
}

export interface PushedReferrer {
  /** The referrer manifest, pushed by digest. */
  descriptor: ReferrerDescriptor;
  /** "referrers-api": the registry indexed it (it answered OCI-Subject); "referrers-tag": we maintained tag `fallbackTag`. */
  indexedBy: "referrers-api" | "referrers-tag";
  fallbackTag?: string;
}

async function readTag(client: RegistryClient, repository: string, tag: string): Promise<Buffer | null> {
  try {
    return (await client.getManifest(repository, tag)).bytes;
  } catch (e) {
    if (e instanceof OciError && e.code === "NOT_FOUND") return null;
    throw e;
  }
}

async function putManifestWithHeaders(client: RegistryClient, repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Headers> {
  const res = await client.request(`/v2/${repository}/manifests/${reference}`, {
    method: "PUT",
    headers: { "content-type": mediaType },
    body: new Uint8Array(bytes),
    scope: `repository:${repository}:pull,push`,
  });
  if (res.status === 201) {
    await res.body?.cancel().catch(() => {});
    return res.headers;
  }
  const text = (await res.text().catch(() => "")).slice(0, 300);
  const what = `PUT manifest ${repository}@${reference}`;
  if (res.status === 404) throw new OciError("NOT_FOUND", `${what}: not found`, 404);
  if (res.status === 403) throw new OciError("UNAUTHORIZED", `${what}: access denied (403) ${text}`.trim(), 403);
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new OciError("UNAVAILABLE", `${what}: registry error ${res.status}`, res.status);
  throw new OciError("BAD_RESPONSE", `${what}: HTTP ${res.status} ${text}`.trim(), res.status);
}

/**
 * Pushes an artifact as an OCI 1.1 referrer of `subject`: the empty config and the blob, then the manifest by digest.
 * A registry with the referrers API indexes it itself (it answers `OCI-Subject`). Otherwise (Distribution 2.8) the
 * client must keep the fallback index at tag `sha256-<hex>` up to date, which lib/oci/referrers.ts reads.
 */
export async function pushReferrer(opts: PushReferrerOptions): Promise<PushedReferrer> {
  const { client, repository } = opts;
  assertRepositoryName(repository);
  const subject = descriptor(opts.subject, "subject");
  const subjectDigest = subject.digest as Digest;

  await client.putBlob(repository, EMPTY_CONFIG_BYTES);
  const blobDigest = await client.putBlob(repository, opts.blobBytes);
  const manifest = buildReferrerManifest({
    subject,
    artifactType: opts.artifactType,
    blob: { mediaType: opts.blobMediaType, digest: blobDigest, size: opts.blobBytes.byteLength },
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
    ...(opts.created ? { created: opts.created } : {}),
  });
  const digest = sha256Digest(manifest);
  const annotations = (JSON.parse(manifest.toString("utf8")) as { annotations: Record<string, string> }).annotations;
  const entry: ReferrerDescriptor = { mediaType: MT.ociManifest, digest, size: manifest.byteLength, artifactType: opts.artifactType, annotations };

  const headers = await putManifestWithHeaders(client, repository, digest, manifest, MT.ociManifest);
  // Early drafts of the spec answered `OCI-Subject-Processed: true` instead.
  const ociSubject = headers.get("oci-subject");
  if (ociSubject === subjectDigest || headers.get("oci-subject-processed") === "true") return { descriptor: entry, indexedBy: "referrers-api" };

  const tag = referrersFallbackTag(subjectDigest);
  const merge = async (): Promise<void> => {
    const next = addToReferrersIndex(await readTag(client, repository, tag), entry);
    if (next) await client.putManifest(repository, tag, next, MT.ociIndex);
  };
  const update = async (): Promise<void> => {
    await merge();
    // Another writer (a second server, or cosign) may have replaced the index between our GET and PUT.
    if (listsEntry(await readTag(client, repository, tag), digest)) return;
    await merge();
    if (!listsEntry(await readTag(client, repository, tag), digest)) {
      throw new OciError("UNAVAILABLE", `${repository}:${tag} keeps losing ${digest} to concurrent writers; the referrer is pushed but not listed`);
    }
  };
  await (opts.lock ? opts.lock(update) : update());
  return { descriptor: entry, indexedBy: "referrers-tag", fallbackTag: tag };
}

/**
 * Detaches a referrer from `subject`: drops it from the fallback index at tag `sha256-<hex>` (when that tag exists;
 * serialized with `lock` like pushReferrer) and deletes the referrer manifest by digest, which a registry with the
 * referrers API also drops from its answer. Idempotent: a referrer already gone is not an error.
 */
export async function removeReferrer(opts: {
  client: RegistryClient;
  repository: string;
  subjectDigest: Digest;
  digest: Digest;
  lock?: <T>(fn: () => Promise<T>) => Promise<T>;
}): Promise<{ unlisted: boolean; deleted: boolean }> {
  const { client, repository } = opts;
  assertRepositoryName(repository);
  assertDigest(opts.digest);
  const tag = referrersFallbackTag(opts.subjectDigest);
  const unlist = async (): Promise<boolean> => {
    const current = await readTag(client, repository, tag);
    if (!current) return false;
    const next = removeFromReferrersIndex(current, opts.digest);
    if (!next) return false;
    await client.putManifest(repository, tag, next, MT.ociIndex);
    if (listsEntry(await readTag(client, repository, tag), opts.digest)) {
      throw new OciError("UNAVAILABLE", `${repository}:${tag} still lists ${opts.digest} after removing it (a concurrent writer); retried later`);
    }
    return true;
  };
  const unlisted = await (opts.lock ? opts.lock(unlist) : unlist());
  const deleted = await client.deleteManifest(repository, opts.digest);
  return { unlisted, deleted };
}

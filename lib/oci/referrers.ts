import { nextPageUrl, readCapped, type RegistryClient } from "./client";
import { assertDigest, OciError, type Digest } from "./digest";
import { goLenient, indexSchema, type Descriptor } from "./manifest";
import { MT } from "./media-types";
import { assertRepositoryName, cosignTag, referrersFallbackTag } from "./reference";

/** Where a referrer was found. */
export type ReferrerSource =
  /** GET /v2/<name>/referrers/<digest> (distribution-spec v1.1). */
  | "referrers-api"
  /** The referrers tag schema: an OCI index under tag `sha256-<hex>`, for registries without the API. */
  | "referrers-tag"
  /** cosign's tags `sha256-<hex>.sig`, `.att`, `.sbom` (no `subject`; found by name only). */
  | "cosign-tag";

export interface Referrer {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  source: ReferrerSource;
  /** The tag it was found under, for "referrers-tag" and "cosign-tag". */
  tag?: string;
}

export interface ListReferrersOptions {
  /**
   * The repository's tags, when the caller has listed them already. Then the fallback and cosign tags are
   * looked up only if present here, which saves a request per missing tag. Undefined: probe with HEAD/GET.
   */
  tags?: readonly string[] | ReadonlySet<string>;
  /**
   * At most this many referrers from the API or the fallback tag (default 1000); the rest are left out and
   * `onTruncated` is called. cosign's `.sig`, `.att` and `.sbom` tags are always looked up and never count against it:
   * a writer who lists enough junk referrers must not push the signature manifest out of what a sync reads.
   */
  maxReferrers?: number;
  onTruncated?: (kept: number) => void;
  /**
   * Shared by every call of one run against one registry: once the registry has answered that it has no
   * referrers API (404/405 on the first page), later calls go straight to the tag schema.
   */
  referrersApi?: ReferrersApiMemo;
}

/** What one referrers answer shows about the registry: an index (present), 404/405 (absent), or nothing. */
export type ApiKnowledge = "unknown" | "present" | "absent";

/**
 * Whether a registry serves the referrers API, learnt once per run. Distribution 2.8 answers 404 to every
 * referrers request; asking again for every image doubles a sync's requests for nothing. Concurrent callers
 * wait for the first probe instead of each sending their own, so a run makes exactly one probe when the API is
 * absent. A probe that fails (network, 5xx) teaches nothing: the next call probes again.
 */
export class ReferrersApiMemo {
  private state: ApiKnowledge = "unknown";
  private probing: Promise<unknown> | undefined;

  get known(): ApiKnowledge {
    return this.state;
  }

  async use<T>(ask: () => Promise<{ result: T; learnt: ApiKnowledge }>, whenAbsent: T): Promise<T> {
    // Wait for a probe in flight (once: if it learnt nothing, waiters ask in parallel, not one by one).
    if (this.probing) await this.probing.catch(() => {});
    if (this.state === "absent") return whenAbsent;
    if (this.state === "present") return (await ask()).result;
    const p = ask();
    if (!this.probing) this.probing = p;
    try {
      const r = await p;
      if (r.learnt !== "unknown") this.state = r.learnt;
      return r.result;
    } finally {
      if (this.probing === p) this.probing = undefined;
    }
  }
}

const INDEX_BYTES = 4 * 1024 * 1024;

function toReferrer(d: Descriptor, source: ReferrerSource, tag?: string): Referrer {
  return {
    mediaType: d.mediaType,
    digest: d.digest as Digest,
    size: d.size,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
    source,
    ...(tag ? { tag } : {}),
  };
}

/** The manifests[] of an OCI index, or null when the bytes are not a valid index. */
function parseIndexDescriptors(bytes: Buffer): Descriptor[] | null {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    return null;
  }
  const r = indexSchema.safeParse(goLenient(json));
  return r.success ? r.data.manifests : null;
}

/** Statuses of a first referrers page that mean "this registry has no referrers API" (not "this image has none"). */
const API_ABSENT_STATUSES = new Set([404, 405]);

/**
 * Pages of the referrers API. Null when the registry does not serve it (404, 405, any other non-200, or a
 * 200 that is not an index): the caller then falls back to the tag schema, as the spec says. `learnt` says
 * what the answer shows about the registry (worth remembering for the run).
 */
async function fromApi(client: RegistryClient, repository: string, digest: Digest): Promise<{ result: Descriptor[] | null; learnt: ApiKnowledge }> {
  const scope = `repository:${repository}:pull`;
  const first = `${client.base}/v2/${repository}/referrers/${digest}`;
  const origin = new URL(client.base).origin;
  const visited = new Set<string>([first]);
  const out: Descriptor[] = [];
  let url: string | null = first;
  for (let page = 0; url; page++) {
    if (page >= 1000) throw new OciError("TOO_LARGE", `referrers of ${digest}: more than 1000 pages`);
    let res: Response;
    try {
      res = await client.request(url, { headers: { accept: MT.ociIndex }, scope });
    } catch (e) {
      // Some registries without the API answer 401 for an unknown route. The tag fallback re-asks with the
      // same credentials, so a real authorization problem still surfaces there.
      if (page === 0 && e instanceof OciError && e.code === "UNAUTHORIZED") return { result: null, learnt: "unknown" };
      throw e;
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => {});
      if (page === 0) return { result: null, learnt: API_ABSENT_STATUSES.has(res.status) ? "absent" : "unknown" };
      throw new OciError("BAD_RESPONSE", `referrers of ${digest}: page ${page + 1} answered ${res.status}`, res.status);
    }
    const descriptors = parseIndexDescriptors(await readCapped(res, INDEX_BYTES, `referrers of ${digest}`));
    if (!descriptors) {
      if (page === 0) return { result: null, learnt: "unknown" };
      throw new OciError("BAD_RESPONSE", `referrers of ${digest}: page ${page + 1} is not an image index`);
    }
    out.push(...descriptors);
    url = nextPageUrl(res.headers.get("link"), url, origin, visited);
  }
  return { result: out, learnt: "present" };
}

async function fromFallbackTag(client: RegistryClient, repository: string, tag: string): Promise<Descriptor[]> {
  let bytes: Buffer;
  try {
    bytes = (await client.getManifest(repository, tag)).bytes;
  } catch (e) {
    if (e instanceof OciError && e.code === "NOT_FOUND") return [];
    throw e;
  }
  // Spec: "If neither gives a valid index, assume no referrers."
  return parseIndexDescriptors(bytes) ?? [];
}

async function cosignDescriptor(client: RegistryClient, repository: string, tag: string): Promise<Referrer | null> {
  const head = await client.headManifest(repository, tag);
  if (!head) return null;
  if (head.digest) {
    return { mediaType: head.mediaType.split(";")[0]!.trim() || MT.ociManifest, digest: head.digest, size: head.size, source: "cosign-tag", tag };
  }
  // Some registries send no Docker-Content-Digest on HEAD: fetch and hash.
  try {
    const m = await client.getManifest(repository, tag);
    return { mediaType: m.mediaType || MT.ociManifest, digest: m.digest, size: m.bytes.byteLength, source: "cosign-tag", tag };
  } catch (e) {
    if (e instanceof OciError && e.code === "NOT_FOUND") return null;
    throw e;
  }
}

const isSignatureType = (t: string | undefined) => !!t && (t.startsWith("application/vnd.dev.sigstore.bundle") || t === MT.notarySignature);

/**
 * Everything attached to `digest` in `repository`: referrers from the API (or, when the registry has no API,
 * from the `sha256-<hex>` fallback index), plus cosign's `.sig`, `.att` and `.sbom` manifests. De-duplicated
 * by digest; a cosign tag wins over a referrer listing the same manifest.
 */
export async function listReferrers(client: RegistryClient, repository: string, digest: Digest, opts: ListReferrersOptions = {}): Promise<Referrer[]> {
  assertRepositoryName(repository);
  assertDigest(digest);
  const max = opts.maxReferrers ?? 1000;
  // A set is used as given: a sync asks for every image of a repository with the same tag set.
  const tags: ReadonlySet<string> | undefined = opts.tags instanceof Set ? opts.tags : opts.tags ? new Set(opts.tags) : undefined;
  const out = new Map<string, Referrer>();
  let truncated = false;
  const add = (r: Referrer) => {
    if (out.has(r.digest)) return;
    if (out.size >= max) truncated = true;
    else out.set(r.digest, r);
  };

  const ask = () => fromApi(client, repository, digest);
  const api = opts.referrersApi ? await opts.referrersApi.use(ask, null) : (await ask()).result;
  const listed: Referrer[] = [];
  if (api) {
    for (const d of api) listed.push(toReferrer(d, "referrers-api"));
  } else {
    const tag = referrersFallbackTag(digest);
    if (!tags || tags.has(tag)) for (const d of await fromFallbackTag(client, repository, tag)) listed.push(toReferrer(d, "referrers-tag", tag));
  }
  // Past the cap, signatures (Sigstore bundles, Notation) are kept before anything else: junk listed ahead of a
  // re-attached revoked bundle must not cut it out of what is read (found by review). Under the cap, the order is
  // the registry's.
  const ranked = listed.length > max ? [...listed].sort((a, b) => Number(isSignatureType(b.artifactType)) - Number(isSignatureType(a.artifactType))) : listed;
  for (const r of ranked) add(r);

  for (const suffix of ["sig", "att", "sbom"] as const) {
    const tag = cosignTag(digest, suffix);
    if (tags && !tags.has(tag)) continue;
    // Always kept, and as a cosign tag even when a referrers list names the same manifest (what cosign reads is the
    // tag; listed as a referrer first, the `.sig` manifest was not recognised as the image's signature manifest).
    const r = await cosignDescriptor(client, repository, tag);
    if (r) out.set(r.digest, r);
  }
  if (truncated) opts.onTruncated?.(max);
  return [...out.values()];
}

import { assertDigest, OciError, type Digest } from "./digest";

// From the distribution spec: path components of lowercase alphanumerics separated by . _ __ or -+.
const REPO_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export function isRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && REPO_RE.test(name);
}

export function assertRepositoryName(name: unknown, field = "repository"): string {
  if (typeof name !== "string" || !isRepositoryName(name)) {
    throw new OciError("INVALID_REFERENCE", `${field} is not a valid repository name: ${JSON.stringify(String(name)).slice(0, 90)}`);
  }
  return name;
}

export function isTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Parses `repo@sha256:…`. Images are addressed by digest only: a tag is never accepted here. */
export function parseDigestReference(ref: string): { repository: string; digest: Digest } {
  const at = ref.lastIndexOf("@");
  if (at < 0) throw new OciError("INVALID_REFERENCE", `expected <repository>@sha256:<hex>, got ${JSON.stringify(ref).slice(0, 90)}`);
  return { repository: assertRepositoryName(ref.slice(0, at)), digest: assertDigest(ref.slice(at + 1)) };
}

/** cosign's tag for the signature manifest of `digest`: sha256-<hex>.sig */
export function cosignTag(digest: Digest, suffix: "sig" | "att" | "sbom"): string {
  return `${digest.replace(":", "-")}.${suffix}`;
}

/** The OCI referrers tag-schema fallback tag: <alg>-<hex> */
export function referrersFallbackTag(digest: Digest): string {
  return digest.replace(":", "-");
}

/**
 * True for tags that are cosign / referrers bookkeeping rather than images:
 * sha256-<hex>.sig|.att|.sbom and the bare sha256-<hex> referrers fallback tag.
 */
export function isArtifactTag(tag: string): boolean {
  return /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/.test(tag);
}

/** The repository as clients pull it: host[:port][/prefix]/repository, no tag, no scheme. */
export function pullReference(registryUrl: string, pullName: string | null | undefined, repository: string): string {
  const host = pullName?.trim() ? trimTrailingSlashes(pullName.trim().replace(/^https?:\/\//, "")) : new URL(registryUrl).host;
  return `${host}/${repository}`;
}

export interface ImageReference {
  /** Registry host[:port] as written, or "docker.io" when the reference names none (Docker's rule). */
  host: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

/**
 * Parses a container image reference as Kubernetes and Docker write it: `[host[:port]/]path[:tag][@sha256:…]`.
 * A first component counts as a host when it contains "." or ":" or is "localhost"; otherwise the image is on
 * Docker Hub, where single-component names live under `library/`.
 */
export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== "string" || ref.length === 0 || ref.length > 1024 || /\s/.test(ref)) {
    throw new OciError("INVALID_REFERENCE", `not an image reference: ${JSON.stringify(String(ref)).slice(0, 90)}`);
  }
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = assertDigest(rest.slice(at + 1), "image digest");
    rest = rest.slice(0, at);
  }
  let host = "docker.io";
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    host = first;
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) throw new OciError("INVALID_REFERENCE", `not a valid tag: ${JSON.stringify(tag).slice(0, 90)}`);
  }
  if ((host === "docker.io" || host === "index.docker.io") && !rest.includes("/")) rest = `library/${rest}`;
  return { host, repository: assertRepositoryName(rest, "image repository"), ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `s` without trailing slashes, in linear time (`/\/+$/` restarts at every slash of a long run: quadratic). */
export function trimTrailingSlashes(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 47) end--;
  return s.slice(0, end);
}

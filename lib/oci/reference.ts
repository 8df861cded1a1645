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
  const host = pullName?.trim() ? pullName.trim().replace(/^https?:\/\//, "").replace(/\/+$/, "") : new URL(registryUrl).host;
  return `${host}/${repository}`;
}

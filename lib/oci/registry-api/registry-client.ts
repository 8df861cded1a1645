import { assertDigest, OciError, sha256Digest, type Digest } from "../digest";
import { diagnoseConnection, type ConnectionTest } from "../diagnose-connection";
import { MANIFEST_ACCEPT } from "../media-types";
import { parseJsonObject, readCapped } from "../transport/body";
import { DEFAULT_LIMITS } from "../transport/options";
import { nextPageUrl } from "../transport/pagination";
import { RegistryTransport } from "../transport/transport";

export interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

/**
 * A small client for the OCI Distribution HTTP API (manifests, blobs, tags, catalog) on top of the transport.
 * Plain data in and out; no framework imports. Every manifest and blob read is checked against the digest it
 * was asked for. The registry is untrusted: every fault becomes an OciError, bounded in time and size.
 */
export class RegistryClient extends RegistryTransport {
  async ping(): Promise<void> {
    const res = await this.request("/v2/");
    if (!res.ok) await this.fail(res, "GET /v2/");
    await res.body?.cancel();
  }

  /** Checks the registry step by step and says which step failed (see diagnoseConnection). Never throws an OciError. */
  testConnection(): Promise<ConnectionTest> {
    return diagnoseConnection(this);
  }

  private async *paginate(first: string, key: "repositories" | "tags", scope: string, cap: { max: number; option: string }): AsyncGenerator<string> {
    const visited = new Set<string>([first]);
    let url: string | null = first;
    let count = 0;
    for (let page = 0; url; page++) {
      if (page >= DEFAULT_LIMITS.maxPages) throw new OciError("TOO_LARGE", `listing has more than ${DEFAULT_LIMITS.maxPages} pages`);
      const res = await this.read(url, { scope });
      const what = `GET ${new URL(url).pathname}`;
      if (!res.ok) await this.fail(res, what);
      const body = parseJsonObject(await readCapped(res, 32 * 1024 * 1024, "listing"), `${what} response`);
      const items = body[key];
      if (items !== null && items !== undefined && !Array.isArray(items)) throw new OciError("BAD_RESPONSE", `${what}: ${key} is not a list`);
      for (const item of (items as unknown[] | null) ?? []) {
        if (typeof item !== "string") continue;
        if (++count > cap.max) throw new OciError("TOO_LARGE", `${what}: more than ${cap.max} ${key} (the ${cap.option} limit)`);
        yield item;
      }
      url = nextPageUrl(res.headers.get("link"), url, this.origin, visited);
    }
  }

  catalog(): AsyncGenerator<string> {
    return this.paginate(`${this.base}/v2/_catalog?n=${DEFAULT_LIMITS.pageSize}`, "repositories", "registry:catalog:*", {
      max: this.opts.maxRepositories ?? DEFAULT_LIMITS.maxRepositories,
      option: "maxRepositories",
    });
  }

  tags(repository: string): AsyncGenerator<string> {
    return this.paginate(`${this.base}/v2/${repository}/tags/list?n=${DEFAULT_LIMITS.pageSize}`, "tags", `repository:${repository}:pull`, {
      max: this.opts.maxTags ?? DEFAULT_LIMITS.maxTags,
      option: "maxTags",
    });
  }

  async headManifest(repository: string, reference: string): Promise<{ digest: Digest | null; mediaType: string; size: number } | null> {
    const res = await this.read(`/v2/${repository}/manifests/${reference}`, {
      method: "HEAD",
      headers: { accept: MANIFEST_ACCEPT },
      scope: `repository:${repository}:pull`,
    });
    if (res.status === 404) return null;
    if (!res.ok) await this.fail(res, `HEAD ${repository}:${reference}`);
    const d = res.headers.get("docker-content-digest");
    return {
      digest: d && /^sha256:[a-f0-9]{64}$/.test(d) ? (d as Digest) : null,
      mediaType: res.headers.get("content-type") ?? "",
      size: Number(res.headers.get("content-length") ?? 0),
    };
  }

  /** Fetches a manifest by tag or digest. By digest, the bytes must hash to it. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const res = await this.read(`/v2/${repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      scope: `repository:${repository}:pull`,
    });
    if (!res.ok) await this.fail(res, `manifest ${repository}:${reference}`);
    const bytes = await readCapped(res, DEFAULT_LIMITS.manifestBytes, `manifest ${repository}:${reference}`);
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new OciError("DIGEST_MISMATCH", `manifest ${repository}@${reference} has digest ${digest}`);
    }
    // By tag, the registry's own claim must match the bytes too: a mismatch is corruption or tampering.
    const claimed = res.headers.get("docker-content-digest");
    if (claimed && /^sha256:[a-f0-9]{64}$/.test(claimed) && claimed !== digest) {
      throw new OciError("DIGEST_MISMATCH", `manifest ${repository}:${reference}: registry says ${claimed}, bytes hash to ${digest}`);
    }
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { bytes, digest, mediaType };
  }

  /**
   * Reads a blob into memory (capped) WITHOUT checking its digest. Only for callers that check it
   * themselves and want to report a mismatch as a verdict rather than an error.
   */
  async getBlobUnverified(repository: string, digest: Digest, maxBytes = DEFAULT_LIMITS.blobBytes): Promise<Buffer> {
    assertDigest(digest);
    const res = await this.read(`/v2/${repository}/blobs/${digest}`, { scope: `repository:${repository}:pull` });
    if (!res.ok) await this.fail(res, `blob ${repository}@${digest}`);
    return readCapped(res, maxBytes, `blob ${digest}`);
  }

  /** Reads a blob into memory (capped) and checks it hashes to its digest. */
  async getBlob(repository: string, digest: Digest, maxBytes = DEFAULT_LIMITS.blobBytes): Promise<Buffer> {
    const bytes = await this.getBlobUnverified(repository, digest, maxBytes);
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw new OciError("DIGEST_MISMATCH", `blob ${digest} has digest ${actual}`);
    return bytes;
  }

  async hasBlob(repository: string, digest: Digest): Promise<boolean> {
    const res = await this.read(`/v2/${repository}/blobs/${digest}`, { method: "HEAD", scope: `repository:${repository}:pull` });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (!res.ok) await this.fail(res, `HEAD blob ${digest}`);
    return true;
  }

  /** Monolithic upload (POST then PUT). Skips the upload when the blob already exists. */
  async putBlob(repository: string, bytes: Uint8Array): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const scope = `repository:${repository}:pull,push`;
    if (await this.hasBlob(repository, digest)) return digest;
    const start = await this.request(`/v2/${repository}/blobs/uploads/`, { method: "POST", scope });
    await start.body?.cancel();
    if (start.status !== 202) await this.fail(start, `start upload to ${repository}`);
    const loc = start.headers.get("location");
    if (!loc) throw new OciError("BAD_RESPONSE", "upload start without Location");
    const target = new URL(loc, this.base);
    target.searchParams.set("digest", digest);
    const put = await this.request(target.toString(), {
      method: "PUT",
      headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
      body: Buffer.from(bytes),
      scope,
    });
    await put.body?.cancel();
    if (put.status !== 201) await this.fail(put, `upload ${digest} to ${repository}`);
    return digest;
  }

  async putManifest(repository: string, reference: string, bytes: Uint8Array, mediaType: string): Promise<Digest> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, {
      method: "PUT",
      headers: { "content-type": mediaType },
      body: Buffer.from(bytes),
      scope: `repository:${repository}:pull,push`,
    });
    await res.body?.cancel();
    if (res.status !== 201) await this.fail(res, `PUT manifest ${repository}:${reference}`);
    return sha256Digest(bytes);
  }

  /**
   * Deletes a manifest by digest (a registry with the referrers API drops it from the subject's referrers too).
   * Returns false when it was already gone; a registry that refuses deletion (405) is an error the caller reports.
   */
  async deleteManifest(repository: string, digest: Digest): Promise<boolean> {
    assertDigest(digest);
    const res = await this.request(`/v2/${repository}/manifests/${digest}`, { method: "DELETE", scope: `repository:${repository}:pull,push,delete` });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.status === 202 || res.status === 200 || res.status === 204) return true;
    return this.fail(res, `DELETE manifest ${repository}@${digest}`);
  }
}

import { assertDigest, OciError, sha256Digest, type Digest } from "./digest";
import { MANIFEST_ACCEPT } from "./media-types";

export const DEFAULT_LIMITS = {
  /** Manifests are small JSON documents; 4 MiB is the common registry limit. */
  manifestBytes: 4 * 1024 * 1024,
  /** Blobs we read into memory (configs, signature payloads). Layers are never read whole. */
  blobBytes: 16 * 1024 * 1024,
  timeoutMs: 15_000,
  pageSize: 1000,
  maxPages: 10_000,
};

export interface RegistryClientOptions {
  /** Base URL, e.g. https://registry.example.com or http://127.0.0.1:5000 */
  url: string;
  /** Basic credentials; also used for the token endpoint of a Bearer challenge. */
  username?: string;
  password?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseWwwAuthenticate(header: string): Challenge | null {
  const m = /^\s*(\w+)\s+(.*)$/.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const re = /(\w+)="([^"]*)"|(\w+)=([^,\s]*)/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2] ?? ""))) {
    const k = (p[1] ?? p[3] ?? "").toLowerCase();
    params[k] = p[2] ?? p[4] ?? "";
  }
  return { scheme: (m[1] ?? "").toLowerCase(), params };
}

/** Returns the rel="next" target of an RFC 8288 Link header, resolved against base. */
export function nextLink(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m?.[1]) return new URL(m[1], base).toString();
  }
  return null;
}

async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel();
    throw new OciError("TOO_LARGE", `${what} is ${len} bytes, over the ${max}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) {
      throw new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

/**
 * A small client for the OCI Distribution HTTP API. Plain data in and out; no framework imports.
 * Every manifest and blob read is checked against the digest it was asked for.
 */
export class RegistryClient {
  readonly base: string;
  private readonly opts: RegistryClientOptions;
  private readonly fetchImpl: typeof fetch;
  // Bearer tokens per scope, for this client's lifetime only (a client is made per operation).
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(opts: RegistryClientOptions) {
    const u = new URL(opts.url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new OciError("INVALID_REFERENCE", `registry URL must be http(s): ${opts.url}`);
    this.base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
    this.opts = opts;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  private basicAuth(): string | undefined {
    if (this.opts.username === undefined) return undefined;
    return "Basic " + Buffer.from(`${this.opts.username}:${this.opts.password ?? ""}`).toString("base64");
  }

  private async raw(url: string, init: RequestInit & { auth?: string | undefined }): Promise<Response> {
    const headers = new Headers(init.headers);
    if (init.auth) headers.set("authorization", init.auth);
    try {
      return await this.fetchImpl(url, {
        ...init,
        headers,
        // Redirects are followed by hand so credentials never reach a redirect target.
        redirect: "manual",
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_LIMITS.timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new OciError("UNAVAILABLE", `registry ${new URL(url).host} unreachable (${cause})`);
    }
  }

  private async token(challenge: Challenge, scope: string): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached && cached.expires > Date.now()) return cached.token;
    const realm = challenge.params.realm;
    if (!realm) throw new OciError("UNAUTHORIZED", "Bearer challenge without realm");
    const url = new URL(realm, this.base);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", challenge.params.scope ?? scope);
    const res = await this.raw(url.toString(), { method: "GET", auth: this.basicAuth() });
    if (!res.ok) throw new OciError("UNAUTHORIZED", `token endpoint ${url.host} answered ${res.status}`, res.status);
    const body = JSON.parse((await readCapped(res, 1024 * 1024, "token response")).toString("utf8")) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) throw new OciError("UNAUTHORIZED", "token endpoint returned no token");
    this.tokens.set(scope, { token, expires: Date.now() + Math.max(30, (body.expires_in ?? 60) - 10) * 1000 });
    return token;
  }

  /** Sends a request to the registry, answering a Bearer/Basic challenge once, and following redirects without credentials. */
  async request(path: string, init: RequestInit & { scope?: string } = {}): Promise<Response> {
    const url = path.startsWith("http") ? path : this.base + path;
    const scope = init.scope ?? "registry:catalog:*";
    const cached = this.tokens.get(scope);
    let auth = cached && cached.expires > Date.now() ? `Bearer ${cached.token}` : this.basicAuth();
    let res = await this.raw(url, { ...init, auth });
    if (res.status === 401) {
      const ch = parseWwwAuthenticate(res.headers.get("www-authenticate") ?? "");
      if (ch?.scheme === "bearer") {
        await res.body?.cancel();
        auth = `Bearer ${await this.token(ch, scope)}`;
        res = await this.raw(url, { ...init, auth });
      }
    }
    for (let hops = 0; hops < 5 && res.status >= 300 && res.status < 400 && res.headers.get("location"); hops++) {
      const target = new URL(res.headers.get("location")!, url);
      await res.body?.cancel();
      const sameOrigin = target.origin === new URL(this.base).origin;
      res = await this.raw(target.toString(), { ...init, auth: sameOrigin ? auth : undefined });
    }
    if (res.status === 401) {
      await res.body?.cancel();
      throw new OciError("UNAUTHORIZED", `registry refused credentials (401) for ${new URL(url).pathname}`, 401);
    }
    return res;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    if (res.status === 404) throw new OciError("NOT_FOUND", `${what}: not found`, 404);
    if (res.status >= 500) throw new OciError("UNAVAILABLE", `${what}: registry error ${res.status}`, res.status);
    throw new OciError("BAD_RESPONSE", `${what}: HTTP ${res.status} ${text}`, res.status);
  }

  async ping(): Promise<void> {
    const res = await this.request("/v2/");
    if (!res.ok) await this.fail(res, "GET /v2/");
    await res.body?.cancel();
  }

  private async *paginate(first: string, key: "repositories" | "tags", scope: string): AsyncGenerator<string> {
    let url: string | null = first;
    for (let page = 0; url && page < DEFAULT_LIMITS.maxPages; page++) {
      const res = await this.request(url, { scope });
      if (!res.ok) await this.fail(res, `GET ${new URL(url).pathname}`);
      const body = JSON.parse((await readCapped(res, 32 * 1024 * 1024, "listing")).toString("utf8")) as Record<string, unknown>;
      const items = body[key];
      if (items !== null && items !== undefined && !Array.isArray(items)) throw new OciError("BAD_RESPONSE", `${key} is not a list`);
      for (const item of (items as unknown[] | null) ?? []) if (typeof item === "string") yield item;
      url = nextLink(res.headers.get("link"), url);
    }
  }

  catalog(): AsyncGenerator<string> {
    return this.paginate(`${this.base}/v2/_catalog?n=${DEFAULT_LIMITS.pageSize}`, "repositories", "registry:catalog:*");
  }

  tags(repository: string): AsyncGenerator<string> {
    return this.paginate(`${this.base}/v2/${repository}/tags/list?n=${DEFAULT_LIMITS.pageSize}`, "tags", `repository:${repository}:pull`);
  }

  async headManifest(repository: string, reference: string): Promise<{ digest: Digest | null; mediaType: string; size: number } | null> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, {
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
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      scope: `repository:${repository}:pull`,
    });
    if (!res.ok) await this.fail(res, `manifest ${repository}:${reference}`);
    const bytes = await readCapped(res, DEFAULT_LIMITS.manifestBytes, `manifest ${repository}:${reference}`);
    const digest = sha256Digest(bytes);
    if (reference.startsWith("sha256:") && digest !== reference) {
      throw new OciError("DIGEST_MISMATCH", `manifest ${repository}@${reference} has digest ${digest}`);
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
    const res = await this.request(`/v2/${repository}/blobs/${digest}`, { scope: `repository:${repository}:pull` });
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
    const res = await this.request(`/v2/${repository}/blobs/${digest}`, { method: "HEAD", scope: `repository:${repository}:pull` });
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
}

import type { LookupFunction } from "node:net";
import { rootCertificates } from "node:tls";
import { Agent, fetch as undiciFetch, type Dispatcher } from "undici";
import { assertDigest, OciError, sha256Digest, type Digest } from "./digest";
import { trimTrailingSlashes } from "./reference";
import { MANIFEST_ACCEPT } from "./media-types";
import { backoffMs, DEFAULT_RETRY, isIdempotent, isRetryableStatus, parseRetryAfter, sleep, type RetryPolicy } from "./retry";
import { assertHostAllowed, BLOCKED_LOOKUP_CODE, guardedLookup, isLoopbackHost, type Resolver } from "./ssrf";

export const DEFAULT_LIMITS = {
  /** Manifests are small JSON documents; 4 MiB is the common registry limit. */
  manifestBytes: 4 * 1024 * 1024,
  /** Blobs we read into memory (configs, signature payloads). Layers are never read whole. */
  blobBytes: 16 * 1024 * 1024,
  timeoutMs: 15_000,
  pageSize: 1000,
  maxPages: 10_000,
  maxTags: 10_000,
  maxRepositories: 100_000,
  maxRedirects: 5,
};

export interface RegistryClientOptions {
  /** Base URL, e.g. https://registry.example.com or http://127.0.0.1:5000 */
  url: string;
  /** Basic credentials. Sent only to the registry's own origin and to the Bearer token realm. */
  username?: string;
  password?: string;
  /** Per request, covering connect, headers and reading the body (a body that stalls mid-stream times out too). */
  timeoutMs?: number;
  /** Replaces the built-in transport. The SSRF pre-check still runs; `ca` and the connect-time DNS guard do not apply. */
  fetch?: typeof fetch;
  /** Retries after the first attempt, for 408, 429, 5xx and (idempotent methods only) network errors. Default 3. */
  retries?: number;
  /** First backoff step in ms (doubles per retry, with jitter). Default 250. */
  retryBaseMs?: number;
  /**
   * Longest wait before one retry, in ms (default 30000). A Retry-After beyond it is not waited for: the
   * 429/503 is returned at once as UNAVAILABLE, rather than holding a request open for minutes.
   */
  maxRetryWaitMs?: number;
  /** tags() fails with TOO_LARGE past this many tags. Default 10000. */
  maxTags?: number;
  /** catalog() fails with TOO_LARGE past this many repositories. Default 100000. */
  maxRepositories?: number;
  /** Redirect hops followed per request. Default 5. */
  maxRedirects?: number;
  /**
   * Allow link-local (169.254.0.0/16, fe80::/10) and cloud-metadata destinations. Off by default: a registry
   * URL, token realm or redirect pointing there is refused with BLOCKED_ADDRESS (SSRF guard).
   */
  allowLinkLocal?: boolean;
  /**
   * Called with the absolute token realm URL before anything is sent to it. Throw to refuse the realm (an
   * OciError is passed through as is; anything else becomes REALM_REFUSED with the original as `cause`).
   */
  onRealm?: (realm: string) => void | Promise<void>;
  /** PEM CA bundle trusted in addition to Node's default roots, for registries with a private CA. */
  ca?: string;
  /** DNS resolver for the SSRF guard and for connections. For tests. */
  resolve?: Resolver;
  /** Waits between retries. For tests, which record the waits instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Observes every HTTP exchange before it is sent (metrics). Unlike `fetch`, it keeps the built-in transport,
   * so `ca` and the connect-time SSRF guard still apply.
   */
  onRequest?: (method: string, url: URL) => void;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

// The registry writes this header, so it is hostile input: parsed by one left-to-right scan (a global regex over
// `\w+=` restarted at every position of a long word is quadratic).
export function parseWwwAuthenticate(header: string): Challenge | null {
  const isWord = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
  let i = 0;
  const n = header.length;
  while (i < n && isSpace(header.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isWord(header.charCodeAt(i))) i++;
  // A bare scheme (`Basic`) is a challenge too; otherwise the scheme ends at white space.
  if (i === schemeStart || (i < n && !isSpace(header.charCodeAt(i)))) return null;
  const scheme = header.slice(schemeStart, i).toLowerCase();
  const params: Record<string, string> = {};
  while (i < n) {
    // Next `key=`: a run of word characters directly followed by "=".
    const c = header.charCodeAt(i);
    if (!isWord(c)) {
      i++;
      continue;
    }
    const keyStart = i;
    while (i < n && isWord(header.charCodeAt(i))) i++;
    if (header.charCodeAt(i) !== 61 /* = */) continue;
    const key = header.slice(keyStart, i).toLowerCase();
    i++;
    if (header.charCodeAt(i) === 34 /* " */) {
      const end = header.indexOf('"', i + 1);
      if (end >= 0) {
        params[key] = header.slice(i + 1, end);
        i = end + 1;
        continue;
      }
    }
    const valueStart = i;
    while (i < n && header.charCodeAt(i) !== 44 && !isSpace(header.charCodeAt(i))) i++;
    params[key] = header.slice(valueStart, i);
  }
  return { scheme, params };
}

/**
 * `<target>; rel="next"` (or rel=next) in one element of a Link header, found with indexOf: the old unanchored
 * regex rescanned the rest of the element from every "<", quadratic on a hostile header.
 */
function linkTargetIfNext(part: string): string | null {
  const open = part.indexOf("<");
  if (open < 0) return null;
  const close = part.indexOf(">", open + 1);
  if (close <= open + 1) return null;
  const params = part.slice(close + 1).split(";").map((p) => p.trim()).filter(Boolean);
  const isNext = params.some((p) => {
    const eq = p.indexOf("=");
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== "rel") return false;
    const v = p.slice(eq + 1).trim();
    return (v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v).split(" ").includes("next");
  });
  return isNext ? part.slice(open + 1, close) : null;
}

/** Returns the rel="next" target of an RFC 8288 Link header, resolved against base. */
export function nextLink(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const target = linkTargetIfNext(part);
    if (target) {
      try {
        return new URL(target, base).toString();
      } catch {
        throw new OciError("BAD_RESPONSE", `Link header has an invalid URL: ${target.slice(0, 200)}`);
      }
    }
  }
  return null;
}

/**
 * The next page of a paginated listing. A target on another origin is refused (it would be fetched with our
 * network position and could leak pagination state), and so is a page already visited (a loop).
 */
export function nextPageUrl(linkHeader: string | null, current: string, origin: string, visited: Set<string>): string | null {
  const next = nextLink(linkHeader, current);
  if (!next) return null;
  const target = new URL(next);
  if (target.origin !== origin) throw new OciError("BAD_RESPONSE", `pagination link points to another origin (${target.origin}), refused`);
  if (visited.has(next)) throw new OciError("BAD_RESPONSE", `pagination loops at ${next}`);
  visited.add(next);
  return next;
}

/** Reads a body into memory, capped. Stalls and dropped connections become UNAVAILABLE, not a hang. */
export async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const len = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(len) && len > max) {
    await res.body?.cancel().catch(() => {});
    throw new OciError("TOO_LARGE", `${what} is ${len} bytes, over the ${max}-byte limit`);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (total > max) {
        throw new OciError("TOO_LARGE", `${what} exceeds the ${max}-byte limit`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (e instanceof OciError) throw e;
    const name = (e as Error)?.name;
    if (name === "TimeoutError" || name === "AbortError") {
      throw new OciError("UNAVAILABLE", `timed out reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "timeout" });
    }
    throw new OciError("UNAVAILABLE", `connection lost reading ${what} after ${total} bytes`, undefined, { cause: e, reason: "connect" });
  }
  return Buffer.concat(chunks);
}

function parseJsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new OciError("BAD_RESPONSE", `${what} is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new OciError("BAD_RESPONSE", `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

export type ConnectionStage = "dns" | "tls" | "connect" | "auth" | "api" | "ssrf";

/** What `testConnection()` found. Plain data, meant to be shown to an admin as is. */
export type ConnectionTest =
  | {
      ok: true;
      /** The Docker-Distribution-API-Version header, when sent (e.g. "registry/2.0"). */
      apiVersion?: string;
      /** The Bearer token realm used, when the registry asked for one: what `onRealm` will be called with. */
      realm?: string;
    }
  | {
      ok: false;
      stage: ConnectionStage;
      detail: string;
      status?: number;
      /** The WWW-Authenticate header the registry sent. */
      challenge?: string;
      realm?: string;
      /** Whether credentials were configured and sent. */
      credentialsTried?: boolean;
    };

// Network error codes that mean "the peer's certificate or TLS setup is wrong": retrying will not help.
const TLS_CODE = /CERT|SSL|TLS|^UNABLE_TO_|^DEPTH_ZERO|^SELF_SIGNED|^HOSTNAME_MISMATCH|^EPROTO$/;
const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA"]);

function errorCode(e: unknown): { code: string | undefined; message: string } {
  let cur: unknown = e;
  let message = (e as Error)?.message ?? String(e);
  for (let i = 0; i < 6 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof (cur as Error).message === "string" && (cur as Error).message) message = (cur as Error).message;
    if (typeof c === "string") return { code: c, message };
    cur = (cur as { cause?: unknown }).cause;
  }
  // No code anywhere (e.g. undici's "bad port"): the innermost message says the most.
  return { code: undefined, message };
}

/**
 * An undici dispatcher that resolves names through the SSRF guard at connect time (a DNS answer that changes after a
 * check is still caught), for outbound calls other than registries (e.g. webhooks).
 */
export function guardedAgent(policy: { allowLinkLocal?: boolean } = {}): Agent {
  return new Agent({ connect: { lookup: guardedLookup({ allowLinkLocal: !!policy.allowLinkLocal }) as unknown as LookupFunction } });
}

/** The innermost message of a network error ("fetch failed" says nothing; its cause does). */
export function networkErrorMessage(e: unknown): string {
  return errorCode(e).message;
}

/**
 * undici closes the connection after every HEAD ("to interop with misbehaving servers that may send a body",
 * undici#258), so a re-sync that HEADs every tag paid a TCP (and TLS) handshake per tag. HEADs here keep the
 * connection alive (`reset: false`), as GETs do. A registry that does send a body after a HEAD can only
 * corrupt its own next answer on that connection, which it could forge anyway: it becomes a parse error
 * (UNAVAILABLE), and manifests are still checked against their digests. The pool is per origin.
 */
export const keepAliveHeads: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) =>
  dispatch(options.method === "HEAD" && options.reset === undefined ? { ...options, reset: false } : options, handler);

/** One undici Agent per policy, shared by clients (a client is made per operation). */
const agents = new Map<string, Dispatcher>();

function agentFor(opts: RegistryClientOptions): Dispatcher {
  const make = () =>
    new Agent({
      connect: {
        lookup: guardedLookup({ allowLinkLocal: !!opts.allowLinkLocal, ...(opts.resolve ? { resolve: opts.resolve } : {}) }) as unknown as LookupFunction,
        // In addition to the public roots: a private registry's token realm may still be a public service.
        ...(opts.ca ? { ca: [...rootCertificates, opts.ca] } : {}),
      },
    }).compose(keepAliveHeads);
  // A custom resolver is a test seam; don't let it leak into the shared agents.
  if (opts.resolve) return make();
  const key = `${opts.allowLinkLocal ? 1 : 0}|${opts.ca ?? ""}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = make();
    agents.set(key, agent);
  }
  return agent;
}

type RawInit = RequestInit & { auth?: string | undefined };

/**
 * A small client for the OCI Distribution HTTP API. Plain data in and out; no framework imports.
 * Every manifest and blob read is checked against the digest it was asked for. The registry is untrusted:
 * every fault becomes an OciError, bounded in time and size.
 */
export class RegistryClient {
  readonly base: string;
  private readonly origin: string;
  private readonly opts: RegistryClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly retry: RetryPolicy;
  private readonly wait: (ms: number) => Promise<void>;
  // Bearer tokens per scope, for this client's lifetime only (a client is made per operation).
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  // Hosts that passed the SSRF check, for this client's lifetime.
  private readonly allowedHosts = new Set<string>();
  private lastChallenge: string | undefined;
  private lastRealm: string | undefined;
  /** Whether the registry's own origin has asked for Basic credentials (a 401 with a Basic challenge). */
  private basicChallenged = false;

  constructor(opts: RegistryClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new OciError("INVALID_REFERENCE", `registry URL is not a URL: ${JSON.stringify(opts.url).slice(0, 120)}`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new OciError("INVALID_REFERENCE", `registry URL must be http(s): ${opts.url}`);
    this.base = `${u.protocol}//${u.host}${trimTrailingSlashes(u.pathname)}`;
    this.origin = u.origin;
    this.opts = opts;
    if (opts.fetch) {
      this.fetchImpl = opts.fetch;
      this.dispatcher = undefined;
    } else {
      this.fetchImpl = undiciFetch as unknown as typeof fetch;
      this.dispatcher = agentFor(opts);
    }
    this.retry = {
      retries: Math.max(0, opts.retries ?? DEFAULT_RETRY.retries),
      baseMs: Math.max(0, opts.retryBaseMs ?? DEFAULT_RETRY.baseMs),
      maxWaitMs: Math.max(0, opts.maxRetryWaitMs ?? DEFAULT_RETRY.maxWaitMs),
    };
    this.wait = opts.sleep ?? sleep;
  }

  private get timeoutMs(): number {
    return this.opts.timeoutMs ?? DEFAULT_LIMITS.timeoutMs;
  }

  private basicAuth(): string | undefined {
    if (this.opts.username === undefined) return undefined;
    return "Basic " + Buffer.from(`${this.opts.username}:${this.opts.password ?? ""}`).toString("base64");
  }

  private async guard(hostname: string): Promise<void> {
    if (this.allowedHosts.has(hostname)) return;
    await assertHostAllowed(hostname, { allowLinkLocal: !!this.opts.allowLinkLocal, ...(this.opts.resolve ? { resolve: this.opts.resolve } : {}) });
    this.allowedHosts.add(hostname);
  }

  private networkError(e: unknown, host: string, signal: AbortSignal): OciError {
    if (e instanceof OciError) return e;
    const name = (e as Error)?.name;
    if (signal.aborted && (name === "TimeoutError" || name === "AbortError")) {
      return new OciError("UNAVAILABLE", `registry ${host} did not answer within ${this.timeoutMs} ms`, undefined, { cause: e, reason: "timeout" });
    }
    const { code, message } = errorCode(e);
    if (code === BLOCKED_LOOKUP_CODE) return new OciError("BLOCKED_ADDRESS", message, undefined, { cause: e, reason: "ssrf" });
    if (code && DNS_CODES.has(code)) return new OciError("UNAVAILABLE", `cannot resolve host ${host} (${code})`, undefined, { cause: e, reason: "dns" });
    if (code && TLS_CODE.test(code)) {
      return new OciError("UNAVAILABLE", `TLS with ${host} failed: ${message} (${code})`, undefined, { cause: e, reason: "tls" });
    }
    if (code === "UND_ERR_CONNECT_TIMEOUT") return new OciError("UNAVAILABLE", `connecting to ${host} timed out`, undefined, { cause: e, reason: "timeout" });
    return new OciError("UNAVAILABLE", `registry ${host} unreachable (${code ?? message ?? name ?? "network error"})`, undefined, { cause: e, reason: "connect" });
  }

  /** One HTTP exchange, no retries. Throws OciError for every network fault. */
  private async once(url: string, init: RawInit): Promise<Response> {
    const { auth, signal: callerSignal, ...rest } = init;
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new OciError("BAD_RESPONSE", `refusing to fetch a ${u.protocol} URL`);
    // Checked before every connection: the registry URL, a token realm and a redirect target alike.
    await this.guard(u.hostname);
    this.opts.onRequest?.(init.method ?? "GET", u);
    const headers = new Headers(init.headers);
    if (auth) headers.set("authorization", auth);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    try {
      return await this.fetchImpl(url, {
        ...rest,
        headers,
        // Redirects are followed by hand so credentials never reach a redirect target.
        redirect: "manual",
        // The same signal covers the body: a body that stalls mid-stream errors when it fires (see readCapped).
        signal,
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
      } as RequestInit);
    } catch (e) {
      // The caller cancelled: theirs to handle, not a registry fault.
      if (callerSignal?.aborted) throw e;
      throw this.networkError(e, u.host, timeout);
    }
  }

  /** One logical exchange: retries 408/429/5xx, and network errors of idempotent methods, with backoff. */
  private async raw(url: string, init: RawInit): Promise<Response> {
    const method = init.method ?? "GET";
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.retry.retries;
      let res: Response;
      try {
        res = await this.once(url, init);
      } catch (e) {
        const err = e as OciError;
        const transient =
          (err.reason === "connect" || (err.reason === "dns" && errorCode(err.cause).code === "EAI_AGAIN")) && isIdempotent(method);
        // Timeouts are not retried: the timeout is the caller's budget for the request, not per attempt.
        if (last || !transient) throw err;
        await this.wait(backoffMs(attempt, this.retry));
        continue;
      }
      if (last || !isRetryableStatus(res.status)) return res;
      const after = parseRetryAfter(res.headers.get("retry-after"));
      // The registry asks for longer than we are willing to hold a request open: report it now.
      if (after !== null && after > this.retry.maxWaitMs) return res;
      await res.body?.cancel().catch(() => {});
      await this.wait(after ?? backoffMs(attempt, this.retry));
    }
  }

  private async token(challenge: Challenge, scope: string): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached && cached.expires > Date.now()) return cached.token;
    const rawRealm = challenge.params.realm;
    if (!rawRealm) throw new OciError("UNAUTHORIZED", "Bearer challenge without realm", 401);
    let realm: URL;
    try {
      realm = new URL(rawRealm, this.base);
    } catch {
      throw new OciError("REALM_REFUSED", `token realm is not a URL: ${rawRealm.slice(0, 200)}`, undefined, { reason: "realm" });
    }
    const realmString = realm.toString();
    this.lastRealm = realmString;
    // Credentials go to the realm, so it must be private on the wire: https, or http that never leaves the host.
    if (!(realm.protocol === "https:" || (realm.protocol === "http:" && isLoopbackHost(realm.hostname)))) {
      throw new OciError(
        "REALM_REFUSED",
        `token realm ${realmString} refused: it must be https (plain http is only accepted on loopback)`,
        undefined,
        { reason: "realm" },
      );
    }
    if (this.opts.onRealm) {
      try {
        await this.opts.onRealm(realmString);
      } catch (e) {
        if (e instanceof OciError) throw e;
        throw new OciError("REALM_REFUSED", `token realm ${realmString} refused: ${(e as Error)?.message ?? String(e)}`, undefined, { cause: e, reason: "realm" });
      }
    }
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", challenge.params.scope ?? scope);
    const res = await this.raw(url.toString(), { method: "GET", auth: this.basicAuth() });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      if (isRetryableStatus(res.status)) throw new OciError("UNAVAILABLE", `token endpoint ${url.host} answered ${res.status}`, res.status);
      const who = this.basicAuth() ? "with the configured credentials" : "anonymously (no credentials configured)";
      throw new OciError("UNAUTHORIZED", `token endpoint ${url.host} answered ${res.status} ${who}`, res.status);
    }
    const body = parseJsonObject(await readCapped(res, 1024 * 1024, "token response"), `token response from ${url.host}`);
    const token = typeof body.token === "string" && body.token ? body.token : typeof body.access_token === "string" ? body.access_token : "";
    if (!token) throw new OciError("UNAUTHORIZED", `token endpoint ${url.host} returned no token`);
    // The token spec's default lifetime is 60 s. Renew a little early; short-lived tokens at half-life.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    const ttl = lifetime > 20 ? lifetime - 10 : lifetime / 2;
    this.tokens.set(scope, { token, expires: Date.now() + ttl * 1000 });
    return token;
  }

  /** Sends a request to the registry, answering a Bearer/Basic challenge once, and following redirects without credentials. */
  async request(path: string, init: RequestInit & { scope?: string } = {}): Promise<Response> {
    const { scope: scopeOpt, ...rest } = init;
    let url: string;
    try {
      url = /^https?:\/\//i.test(path) ? new URL(path).toString() : this.base + path;
    } catch {
      throw new OciError("BAD_RESPONSE", `not a URL: ${path.slice(0, 200)}`);
    }
    const scope = scopeOpt ?? "registry:catalog:*";
    // Credentials only for the registry's own origin. An absolute URL elsewhere (an upload Location, a
    // redirect) gets none: it carries its own authorization if it needs any.
    const sameOrigin = new URL(url).origin === this.origin;
    const cached = this.tokens.get(scope);
    const bearer = sameOrigin && cached && cached.expires > Date.now() ? `Bearer ${cached.token}` : undefined;
    // Basic credentials are never sent on a first request: only after the registry's own origin has answered 401
    // with a Basic challenge (then on later requests too, as that origin asked for them). Whoever points the
    // registry's URL somewhere else must at least make that host ask, and the URL change itself clears the secrets.
    let auth = sameOrigin ? (bearer ?? (this.basicChallenged ? this.basicAuth() : undefined)) : undefined;
    let res = await this.raw(url, { ...rest, auth });
    if (res.status === 401 && sameOrigin) {
      const header = res.headers.get("www-authenticate");
      if (header) this.lastChallenge = header;
      const ch = parseWwwAuthenticate(header ?? "");
      if (ch?.scheme === "bearer") {
        await res.body?.cancel().catch(() => {});
        // A cached token the registry now refuses (revoked, clock skew) is dropped, and a fresh one fetched once.
        if (bearer) this.tokens.delete(scope);
        auth = `Bearer ${await this.token(ch, scope)}`;
        res = await this.raw(url, { ...rest, auth });
      } else if (ch?.scheme === "basic" && this.basicAuth() && auth === undefined) {
        await res.body?.cancel().catch(() => {});
        this.basicChallenged = true;
        auth = this.basicAuth();
        res = await this.raw(url, { ...rest, auth });
      }
    }
    res = await this.followRedirects(res, url, rest, auth);
    if (res.status === 401) {
      const header = res.headers.get("www-authenticate");
      if (header) this.lastChallenge = header;
      await res.body?.cancel().catch(() => {});
      const pathname = new URL(url).pathname;
      const message = this.basicAuth()
        ? `registry refused the credentials (401) for ${pathname}`
        : `registry requires authentication (401) for ${pathname} and no credentials are configured`;
      throw new OciError("UNAUTHORIZED", message, 401);
    }
    return res;
  }

  private async followRedirects(first: Response, url: string, init: RequestInit, auth: string | undefined): Promise<Response> {
    const max = this.opts.maxRedirects ?? DEFAULT_LIMITS.maxRedirects;
    let res = first;
    let current = url;
    let next: RequestInit = init;
    for (let hops = 0; [301, 302, 303, 307, 308].includes(res.status); hops++) {
      const location = res.headers.get("location");
      if (!location) return res;
      await res.body?.cancel().catch(() => {});
      if (hops >= max) throw new OciError("BAD_RESPONSE", `more than ${max} redirects from ${new URL(url).pathname}`, res.status);
      let target: URL;
      try {
        target = new URL(location, current);
      } catch {
        throw new OciError("BAD_RESPONSE", `redirect to an invalid URL: ${location.slice(0, 200)}`, res.status);
      }
      if (target.protocol !== "http:" && target.protocol !== "https:") {
        throw new OciError("BAD_RESPONSE", `redirect to a ${target.protocol} URL refused`, res.status);
      }
      const method = (next.method ?? "GET").toUpperCase();
      if (res.status === 303 && method !== "GET" && method !== "HEAD") {
        const headers = new Headers(next.headers);
        headers.delete("content-type");
        headers.delete("content-length");
        next = { ...next, method: "GET", body: null, headers };
      }
      // Credentials only to the registry's own origin: a blob redirect to a CDN or bucket carries its own signature.
      const sameOrigin = target.origin === this.origin;
      current = target.toString();
      res = await this.raw(current, { ...next, auth: sameOrigin ? auth : undefined });
    }
    return res;
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    if (res.status === 404) throw new OciError("NOT_FOUND", `${what}: not found`, 404);
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      const after = res.headers.get("retry-after");
      const label = res.status === 429 ? "rate limited (429)" : res.status === 408 ? "request timeout (408)" : `registry error ${res.status}`;
      const tries = this.retry.retries + 1;
      throw new OciError("UNAVAILABLE", `${what}: ${label}${after ? `, Retry-After ${after}` : ""}, gave up after at most ${tries} attempt${tries === 1 ? "" : "s"}`, res.status);
    }
    if (res.status === 403) throw new OciError("UNAUTHORIZED", `${what}: access denied (403) ${text}`.trim(), 403);
    throw new OciError("BAD_RESPONSE", `${what}: HTTP ${res.status} ${text}`, res.status);
  }

  async ping(): Promise<void> {
    const res = await this.request("/v2/");
    if (!res.ok) await this.fail(res, "GET /v2/");
    await res.body?.cancel();
  }

  /**
   * Checks the registry step by step and says which step failed: DNS, the SSRF policy, TCP, TLS,
   * authentication (with the challenge seen), or the API itself. Never throws an OciError.
   */
  async testConnection(): Promise<ConnectionTest> {
    const credentialsTried = this.opts.username !== undefined;
    const failure = (stage: ConnectionStage, detail: string, extra: { status?: number } = {}): ConnectionTest => ({
      ok: false,
      stage,
      detail,
      ...extra,
      ...(this.lastChallenge ? { challenge: this.lastChallenge } : {}),
      ...(this.lastRealm ? { realm: this.lastRealm } : {}),
      ...(stage === "auth" ? { credentialsTried } : {}),
    });
    let res: Response;
    try {
      await this.guard(new URL(this.base).hostname);
      res = await this.request("/v2/");
    } catch (e) {
      if (!(e instanceof OciError)) throw e;
      if (e.code === "BLOCKED_ADDRESS") return failure("ssrf", e.message);
      if (e.code === "UNAUTHORIZED" || e.code === "REALM_REFUSED") return failure("auth", e.message, e.status === undefined ? {} : { status: e.status });
      switch (e.reason) {
        case "dns":
          return failure("dns", e.message);
        case "tls":
          return failure("tls", e.message);
        case "connect":
        case "timeout":
          return failure("connect", e.message);
        case "ssrf":
          return failure("ssrf", e.message);
        case "realm":
          return failure("auth", e.message);
        case undefined:
          return failure(this.lastRealm ? "auth" : "api", e.message, e.status === undefined ? {} : { status: e.status });
        default: {
          const never: never = e.reason;
          return never;
        }
      }
    }
    await res.body?.cancel().catch(() => {});
    if (res.ok) {
      const apiVersion = res.headers.get("docker-distribution-api-version");
      return { ok: true, ...(apiVersion ? { apiVersion } : {}), ...(this.lastRealm ? { realm: this.lastRealm } : {}) };
    }
    if (res.status === 403) return failure("auth", "GET /v2/ answered 403: the credentials are valid but access is denied", { status: 403 });
    if (res.status === 404) {
      return failure("api", `GET ${new URL(this.base).pathname.replace(/\/$/, "")}/v2/ answered 404: this URL does not serve the OCI distribution API (check the URL and path)`, { status: 404 });
    }
    return failure("api", `GET /v2/ answered ${res.status}`, { status: res.status });
  }

  private async *paginate(first: string, key: "repositories" | "tags", scope: string, cap: { max: number; option: string }): AsyncGenerator<string> {
    const visited = new Set<string>([first]);
    let url: string | null = first;
    let count = 0;
    for (let page = 0; url; page++) {
      if (page >= DEFAULT_LIMITS.maxPages) throw new OciError("TOO_LARGE", `listing has more than ${DEFAULT_LIMITS.maxPages} pages`);
      const res = await this.request(url, { scope });
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

import { fetch as undiciFetch, type Dispatcher } from "undici";
import { OciError } from "../digest";
import { trimTrailingSlashes } from "../reference";
import { backoffMs, DEFAULT_RETRY, isIdempotent, isRetryableStatus, parseRetryAfter, sleep, type RetryPolicy } from "../retry";
import { assertHostAllowed, isLoopbackHost } from "../ssrf";
import { agentFor } from "./agent";
import { Deadline, deadlineInterceptor, holdDeadline } from "./deadline";
import { parseJsonObject, readCapped } from "./body";
import { DispatchedResponse, type ExchangeResponse } from "./dispatched-response";
import { errorCode, toNetworkError } from "./network-errors";
import { DEFAULT_LIMITS, type RegistryClientOptions } from "./options";
import type { Challenge } from "./www-authenticate";
import { parseWwwAuthenticate } from "./www-authenticate";

type RawInit = RequestInit & { auth?: string | undefined };

/**
 * Request headers as the dispatcher API takes them, lower-cased. The registry API's reads pass a plain object of
 * a header or two; building a WHATWG Headers object for each of a sync's thousands of requests only to copy it out
 * showed in its profile. Other forms (a Headers object, pairs) still go through Headers. undici validates names and
 * values either way (a CR, LF or NUL is refused before anything is sent).
 */
function plainHeaders(h: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (!(h instanceof Headers) && !Array.isArray(h) && Object.getPrototypeOf(h) === Object.prototype) {
    for (const k of Object.keys(h)) {
      const v = (h as Record<string, unknown>)[k];
      if (typeof v === "string") out[k.toLowerCase()] = v;
    }
    return out;
  }
  new Headers(h).forEach((v, k) => (out[k] = v));
  return out;
}

/** One attempt of an exchange: through fetch (`once`) or through the dispatcher API (`onceDispatched`). */
type Once<R extends ExchangeResponse> = (url: string, init: RawInit) => Promise<R>;

/**
 * The transport layer under the registry API (as go-containerregistry separates them): one HTTP exchange at a
 * time against one registry, with the SSRF guard before every connection, Bearer/Basic challenges and a token
 * cache per scope, redirects followed by hand without credentials, retries with backoff, timeouts covering the
 * body, and every fault turned into an OciError. It knows nothing of manifests or blobs.
 */
export class RegistryTransport {
  readonly base: string;
  protected readonly origin: string;
  protected readonly opts: RegistryClientOptions;
  private readonly fetchImpl: typeof fetch;
  private readonly dispatcher: Dispatcher | undefined;
  /** The dispatcher with this client's time budget per request (see deadlineInterceptor). */
  private readonly timedDispatcher: Dispatcher | undefined;
  private readonly retry: RetryPolicy;
  private readonly wait: (ms: number) => Promise<void>;
  // Bearer tokens per scope, for this client's lifetime only (a client is made per operation).
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  // Hosts that passed the SSRF check, for this client's lifetime.
  private readonly allowedHosts = new Set<string>();
  private lastChallenge: string | undefined;
  private lastRealm: string | undefined;

  /** The last WWW-Authenticate header the registry sent (for connection diagnostics). */
  get challengeSeen(): string | undefined {
    return this.lastChallenge;
  }

  /** The last Bearer token realm used (for connection diagnostics). */
  get realmSeen(): string | undefined {
    return this.lastRealm;
  }

  /** Whether credentials are configured. */
  get hasCredentials(): boolean {
    return this.opts.username !== undefined;
  }

  /** Runs the SSRF check on the registry's own host (diagnostics run it first, to name the failing step). */
  checkHost(): Promise<void> {
    return this.guard(new URL(this.base).hostname);
  }
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
      this.timedDispatcher = undefined;
    } else {
      this.fetchImpl = undiciFetch as unknown as typeof fetch;
      this.dispatcher = agentFor(opts);
      this.timedDispatcher = this.dispatcher.compose(deadlineInterceptor(opts.timeoutMs ?? DEFAULT_LIMITS.timeoutMs));
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
    // The time budget covers the body too: a body that stalls mid-stream errors when it runs out (see readCapped).
    // With our own dispatcher and no caller signal it is kept in the dispatcher (no AbortSignal per request);
    // otherwise (an injected fetch, a caller's signal) it is a signal.
    const inDispatcher = this.timedDispatcher && !callerSignal;
    const deadline = inDispatcher ? undefined : new Deadline(this.timeoutMs);
    const signal = deadline ? (callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal) : undefined;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        ...rest,
        headers,
        // Redirects are followed by hand so credentials never reach a redirect target.
        redirect: "manual",
        ...(signal ? { signal } : {}),
        ...(this.dispatcher ? { dispatcher: inDispatcher ? this.timedDispatcher : this.dispatcher } : {}),
      } as RequestInit);
    } catch (e) {
      deadline?.release();
      // The caller cancelled: theirs to handle, not a registry fault.
      if (callerSignal?.aborted) throw e;
      throw toNetworkError(e, u.host, this.timeoutMs);
    }
    if (!deadline) return res;
    // No body (a HEAD, a 204): the exchange is over. Otherwise the deadline still covers the body.
    if (res.body) holdDeadline(res, deadline);
    else deadline.release();
    return res;
  }

  /**
   * One GET or HEAD, no retries, through the dispatcher API (see DispatchedResponse). The same checks as `once`:
   * http(s) only, the SSRF guard before the connection (and again in the dispatcher's connect lookup), the time
   * budget in the dispatcher (covering the body), no redirect followed. With an injected fetch or a caller's signal
   * it is `once` itself.
   */
  private async onceDispatched(url: string, init: RawInit): Promise<Response | DispatchedResponse> {
    const dispatcher = this.timedDispatcher;
    const method = init.method ?? "GET";
    if (!dispatcher || init.signal || (method !== "GET" && method !== "HEAD")) return this.once(url, init);
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new OciError("BAD_RESPONSE", `refusing to fetch a ${u.protocol} URL`);
    // Checked before every connection: the registry URL, a token realm and a redirect target alike (a host that
    // passed already is known without a promise: this runs for each of a sync's thousands of requests).
    if (!this.allowedHosts.has(u.hostname)) await this.guard(u.hostname);
    this.opts.onRequest?.(method, u);
    const headers = plainHeaders(init.headers);
    if (init.auth) headers.authorization = init.auth;
    try {
      const r = await dispatcher.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method,
        headers,
        // Redirects are followed by hand (followRedirects), so credentials never reach a redirect target.
        maxRedirections: 0,
      });
      if (method === "GET") return new DispatchedResponse(r.statusCode, r.headers, r.body);
      // A HEAD has no body; whatever a misbehaving server sends is discarded, not read.
      await r.body.dump();
      return new DispatchedResponse(r.statusCode, r.headers, null);
    } catch (e) {
      throw toNetworkError(e, u.host, this.timeoutMs);
    }
  }

  /** One logical exchange: retries 408/429/5xx, and network errors of idempotent methods, with backoff. */
  private async raw<R extends ExchangeResponse>(url: string, init: RawInit, once: Once<R>): Promise<R> {
    const method = init.method ?? "GET";
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.retry.retries;
      let res: R;
      try {
        res = await once(url, init);
      } catch (e) {
        const err = e as OciError;
        const transient = (err.reason === "connect" || (err.reason === "dns" && errorCode(err.cause).code === "EAI_AGAIN")) && isIdempotent(method);
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
      throw new OciError("REALM_REFUSED", `token realm ${realmString} refused: it must be https (plain http is only accepted on loopback)`, undefined, {
        reason: "realm",
      });
    }
    if (this.opts.onRealm) {
      try {
        await this.opts.onRealm(realmString);
      } catch (e) {
        if (e instanceof OciError) throw e;
        throw new OciError("REALM_REFUSED", `token realm ${realmString} refused: ${(e as Error)?.message ?? String(e)}`, undefined, {
          cause: e,
          reason: "realm",
        });
      }
    }
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
    url.searchParams.set("scope", challenge.params.scope ?? scope);
    const res = await this.raw(url.toString(), { method: "GET", auth: this.basicAuth() }, this.fetchOnce);
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

  private readonly fetchOnce: Once<Response> = (url, init) => this.once(url, init);
  private readonly dispatchedOnce: Once<Response | DispatchedResponse> = (url, init) => this.onceDispatched(url, init);

  /** Sends a request to the registry, answering a Bearer/Basic challenge once, and following redirects without credentials. */
  request(path: string, init: RequestInit & { scope?: string } = {}): Promise<Response> {
    return this.exchange(path, init, this.fetchOnce);
  }

  /**
   * A GET or HEAD with the same challenges, credential scoping, redirects and retries as `request`, sent through the
   * dispatcher API: the registry API's reads (manifests, blobs, listings). Read the body with readCapped.
   */
  read(path: string, init: { method?: "GET" | "HEAD"; headers?: Record<string, string>; scope?: string } = {}): Promise<Response | DispatchedResponse> {
    return this.exchange(path, init, this.dispatchedOnce);
  }

  private async exchange<R extends ExchangeResponse>(path: string, init: RequestInit & { scope?: string }, once: Once<R>): Promise<R> {
    const { scope: scopeOpt, ...rest } = init;
    let url: string;
    let sameOrigin: boolean;
    try {
      if (path.startsWith("/")) {
        // The registry API's own paths: appended to the base, whose authority ends before them, so they stay on the
        // registry's origin without parsing the URL here (onceDispatched parses it for the request itself).
        url = this.base + path;
        sameOrigin = true;
      } else {
        url = /^https?:\/\//i.test(path) ? new URL(path).toString() : this.base + path;
        // Credentials only for the registry's own origin. An absolute URL elsewhere (an upload Location, a
        // redirect) gets none: it carries its own authorization if it needs any.
        sameOrigin = new URL(url).origin === this.origin;
      }
    } catch {
      throw new OciError("BAD_RESPONSE", `not a URL: ${path.slice(0, 200)}`);
    }
    const scope = scopeOpt ?? "registry:catalog:*";
    const cached = this.tokens.get(scope);
    const bearer = sameOrigin && cached && cached.expires > Date.now() ? `Bearer ${cached.token}` : undefined;
    // Basic credentials are never sent on a first request: only after the registry's own origin has answered 401
    // with a Basic challenge (then on later requests too, as that origin asked for them). Whoever points the
    // registry's URL somewhere else must at least make that host ask, and the URL change itself clears the secrets.
    let auth = sameOrigin ? (bearer ?? (this.basicChallenged ? this.basicAuth() : undefined)) : undefined;
    let res = await this.raw(url, { ...rest, auth }, once);
    if (res.status === 401 && sameOrigin) {
      const header = res.headers.get("www-authenticate");
      if (header) this.lastChallenge = header;
      const ch = parseWwwAuthenticate(header ?? "");
      if (ch?.scheme === "bearer") {
        await res.body?.cancel().catch(() => {});
        // A cached token the registry now refuses (revoked, clock skew) is dropped, and a fresh one fetched once.
        if (bearer) this.tokens.delete(scope);
        auth = `Bearer ${await this.token(ch, scope)}`;
        res = await this.raw(url, { ...rest, auth }, once);
      } else if (ch?.scheme === "basic" && this.basicAuth() && auth === undefined) {
        await res.body?.cancel().catch(() => {});
        this.basicChallenged = true;
        auth = this.basicAuth();
        res = await this.raw(url, { ...rest, auth }, once);
      }
    }
    res = await this.followRedirects(res, url, rest, auth, once);
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

  private async followRedirects<R extends ExchangeResponse>(first: R, url: string, init: RequestInit, auth: string | undefined, once: Once<R>): Promise<R> {
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
      res = await this.raw(current, { ...next, auth: sameOrigin ? auth : undefined }, once);
    }
    return res;
  }

  /** Throws the OciError for a response that is not what `what` needed. */
  protected async fail(res: ExchangeResponse, what: string): Promise<never> {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    if (res.status === 404) throw new OciError("NOT_FOUND", `${what}: not found`, 404);
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      const after = res.headers.get("retry-after");
      const label = res.status === 429 ? "rate limited (429)" : res.status === 408 ? "request timeout (408)" : `registry error ${res.status}`;
      const tries = this.retry.retries + 1;
      throw new OciError(
        "UNAVAILABLE",
        `${what}: ${label}${after ? `, Retry-After ${after}` : ""}, gave up after at most ${tries} attempt${tries === 1 ? "" : "s"}`,
        res.status,
      );
    }
    if (res.status === 403) throw new OciError("UNAUTHORIZED", `${what}: access denied (403) ${text}`.trim(), 403);
    throw new OciError("BAD_RESPONSE", `${what}: HTTP ${res.status} ${text}`, res.status);
  }
}

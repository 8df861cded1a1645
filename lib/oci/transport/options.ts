import type { Resolver } from "../ssrf";

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

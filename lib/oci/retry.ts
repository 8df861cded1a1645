/**
 * Retry policy for registry requests. Only answers that say "try again" are retried: 408, 429 and 5xx.
 * 401/403/404 and every other 4xx are final, so a wrong password or a missing image costs one request.
 */

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff step; doubles per retry, with jitter. */
  baseMs: number;
  /** Longest single wait, for backoff and for Retry-After alike. */
  maxWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseMs: 250, maxWaitMs: 30_000 };

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/** A request that died on the network may have reached the server; only idempotent methods are sent again. */
export function isIdempotent(method: string | undefined): boolean {
  return IDEMPOTENT.has((method ?? "GET").toUpperCase());
}

/**
 * Retry-After in milliseconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Null when absent or
 * unreadable; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  if (!/[a-z]/i.test(v)) return null;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** Exponential backoff with jitter: a random wait between half and all of base·2^attempt, capped. */
export function backoffMs(attempt: number, policy: Pick<RetryPolicy, "baseMs" | "maxWaitMs">, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxWaitMs, policy.baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import "server-only";
import type { Actor } from "../actor";

/**
 * A per-replica cache of API-token lookups, for the requests that carry a token on every call (verify, ImageReview,
 * pipelines). An entry is trusted for at most TOKEN_CACHE_MS after the moment its database read *started*, so any
 * change committed before that read is in it, and any change committed later (revocation, user disabled, role
 * changed, token deleted) takes effect on every replica within TOKEN_CACHE_MS: after that the entry is read again.
 * No replica needs to tell another anything; nothing shared lives here beyond one second.
 *
 * Expiry is checked against the cached expires_at on every use, so an expiring token stops at its expiry exactly.
 * A failed lookup is never cached (a token created a moment ago works at once, and garbage cannot fill the map).
 * Changes made through this replica (revokeToken, updateUser) clear the cache at once (forgetCachedTokens), and a lookup
 * that was already in flight then is not cached afterwards.
 */
export const TOKEN_CACHE_MS = 1000;
/** Bounded, so a flood of distinct valid tokens costs memory only up to this many entries. */
const MAX_ENTRIES = 10_000;

export interface CachedToken {
  tokenId: string;
  actor: Actor;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  /** Date.now() when the database read that produced this entry started. */
  readAt: number;
  /** When its owner's last sign-in through the provider gets too old (sso-recency.ts); null when that does not apply. */
  signInDueAt: Date | null;
}

const entries = new Map<string, CachedToken>();
/** Date.now() of the last forgetCachedTokens(): a read that started at or before it may predate the change. */
let forgottenAt = -Infinity;

/** The entry for this token hash while it is fresh and unexpired, else undefined (and a stale one is dropped). */
export function cachedToken(tokenHash: string, now = Date.now()): CachedToken | undefined {
  const e = entries.get(tokenHash);
  if (!e) return undefined;
  if (now - e.readAt >= TOKEN_CACHE_MS || now < e.readAt || (e.expiresAt && e.expiresAt.getTime() <= now)) {
    entries.delete(tokenHash);
    return undefined;
  }
  return e;
}

export function rememberToken(tokenHash: string, entry: CachedToken): void {
  // A lookup already in flight when this replica made a change (revocation, disable, role change) read the row as it
  // was: it answers its own request, but it is not kept for the next ones.
  if (entry.readAt <= forgottenAt) return;
  if (entries.size >= MAX_ENTRIES) {
    // Drop stale entries first; if all are fresh, the oldest (Map keeps insertion order).
    const now = Date.now();
    for (const [k, v] of entries) if (now - v.readAt >= TOKEN_CACHE_MS) entries.delete(k);
    if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  }
  entries.delete(tokenHash);
  entries.set(tokenHash, entry);
}

/** After a revocation, a disable or a role change made in this process: the next request reads the database. */
export function forgetCachedTokens(): void {
  forgottenAt = Date.now();
  entries.clear();
}

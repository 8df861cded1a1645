import { describe, expect, it } from "vitest";
import { cachedToken, forgetCachedTokens, rememberToken, TOKEN_CACHE_MS, type CachedToken } from "./token-cache";

const entry = (readAt: number): CachedToken => ({
  tokenId: "t1",
  actor: { kind: "system", label: "token-cache-test" },
  expiresAt: null,
  lastUsedAt: null,
  readAt,
  signInDueAt: null,
});

describe("the per-replica token cache", () => {
  it("keeps an entry for at most TOKEN_CACHE_MS from when its read started", () => {
    const now = Date.now();
    rememberToken("h-fresh", entry(now));
    expect(cachedToken("h-fresh", now + TOKEN_CACHE_MS - 1)).toBeDefined();
    expect(cachedToken("h-fresh", now + TOKEN_CACHE_MS)).toBeUndefined();
  });

  it("does not keep a lookup that was in flight when this replica forgot every entry (a revocation made here)", () => {
    const readStarted = Date.now();
    forgetCachedTokens(); // the revocation commits while that read is in flight
    rememberToken("h-inflight", entry(readStarted));
    expect(cachedToken("h-inflight")).toBeUndefined();
    // A read that starts afterwards is kept as usual.
    const later = Date.now() + 1;
    rememberToken("h-later", entry(later));
    expect(cachedToken("h-later", later)).toBeDefined();
  });
});

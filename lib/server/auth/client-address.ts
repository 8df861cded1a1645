import "server-only";
import { isIP } from "node:net";
import { env } from "../../env";
import { isTrustedProxy, verifiedPeer } from "./client-cert";

/**
 * The address a request came from, for audit sources and sign-in throttling: the TCP peer stamped by
 * scripts/server.mjs, or, when that peer is a configured proxy (IMPRIMATUR_TRUSTED_PROXIES), the address that proxy
 * appended to X-Forwarded-For (the last entry that is not itself a trusted proxy). A client's own X-Forwarded-For is
 * never believed: anything before the trusted hops is what the client wrote. Without a verified peer (plain
 * `next start`) the answer is "unknown", so every such request shares one throttling bucket.
 */
export function clientAddress(headers: Headers, trustedProxies: readonly string[] = env().IMPRIMATUR_TRUSTED_PROXIES): string {
  const peer = verifiedPeer(headers);
  if (!peer) return "unknown";
  if (!isTrustedProxy(peer, trustedProxies)) return peer;
  const hops = (headers.get("x-forwarded-for") ?? "")
    .slice(0, 4096)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.replace(/^::ffff:/, "");
    if (isIP(hop) === 0) return peer; // garbage from a hop we cannot trust: fall back to the proxy itself
    if (!isTrustedProxy(hop, trustedProxies)) return hop;
  }
  return peer;
}

/** Headers from next-auth's internal request (a plain object) as a Headers object. */
export function headersFromRecord(h: Record<string, unknown> | undefined): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h ?? {})) {
    if (typeof v === "string") out.set(k, v);
    else if (Array.isArray(v)) out.set(k, v.filter((x) => typeof x === "string").join(", "));
  }
  return out;
}

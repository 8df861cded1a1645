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

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail folded in, a zone dropped), or null. */
function ipv6Groups(address: string): number[] | null {
  let ip = address.split("%")[0] ?? "";
  if (isIP(ip) !== 6) return null;
  const lastColon = ip.lastIndexOf(":");
  const tail = ip.slice(lastColon + 1);
  if (isIP(tail) === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split(".").map(Number);
    ip = `${ip.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", rest] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const fill = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(Math.max(fill, 0)).fill("0"), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : null;
}

/**
 * What a per-source limit counts a client address as. An IPv6 host is handed a whole /64 (a home line, a cloud VM)
 * and may pick a new address in it for every request, so an IPv6 address counts as its /64; an IPv4-mapped IPv6
 * address counts as its IPv4 address; anything else (IPv4, "unknown") as itself. Audit details and the failure counts
 * keep the full address: this is only the key a limit is kept under.
 */
export function throttleSource(address: string): string {
  const groups = ipv6Groups(address);
  if (!groups) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff)
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join(".");
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
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

import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress, LookupOptions } from "node:dns";
import { isIP } from "node:net";
import { OciError } from "./digest";

/**
 * SSRF guard. A registry URL, a token realm and a redirect target all come from places we don't control
 * (an admin's form, a registry's WWW-Authenticate or Location header), and the server fetches them with its
 * own network position. The one destination that is never a registry but often reachable is the link-local
 * range, where cloud providers serve instance metadata and credentials. Loopback and private ranges stay
 * allowed: tests and on-prem registries live there.
 */

export type AddressClass = "metadata" | "link-local" | "loopback" | "private" | "unspecified" | "multicast" | "public";

/** Instance-metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba Cloud). */
export const METADATA_ADDRESSES: readonly string[] = ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"];
/** Names that only ever point at a metadata server. Refused before any DNS query. */
export const METADATA_HOSTNAMES: readonly string[] = ["metadata.google.internal", "metadata.goog"];

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a hostname to all its addresses (A and AAAA). Injectable for tests. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const all = await dnsLookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

function parseV4(ip: string): number | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

/** Eight 16-bit groups, or null. Accepts `::` compression, an embedded IPv4 tail and a `%zone` suffix. */
function parseV6(input: string): number[] | null {
  let ip = input.replace(/^\[|\]$/g, "");
  const zone = ip.indexOf("%");
  if (zone >= 0) ip = ip.slice(0, zone);
  let tail: number[] = [];
  const lastColon = ip.lastIndexOf(":");
  if (ip.slice(lastColon + 1).includes(".")) {
    const v4 = parseV4(ip.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [Math.floor(v4 / 65536), v4 % 65536];
    // Drop the dotted tail; keep a trailing "::" (as in ::1.2.3.4), drop a single trailing ":".
    ip = ip.slice(0, lastColon + 1);
    if (!ip.endsWith("::")) ip = ip.slice(0, -1);
  }
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const toGroups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = toGroups(halves[0] ?? "");
  const rest = halves.length === 2 ? toGroups(halves[1] ?? "") : [];
  if (!head || !rest) return null;
  const explicit = head.length + rest.length + tail.length;
  if (halves.length === 1) {
    return explicit === 8 ? [...head, ...tail] : null;
  }
  if (explicit > 7) return null;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail];
}

function classifyV4(n: number): AddressClass {
  const a = Math.floor(n / 2 ** 24);
  const b = Math.floor(n / 2 ** 16) % 256;
  if (n === parseV4("169.254.169.254") || n === parseV4("100.100.100.200")) return "metadata";
  if (a === 169 && b === 254) return "link-local";
  if (a === 127) return "loopback";
  if (a === 0) return "unspecified";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return "private";
  if (a >= 224) return "multicast";
  return "public";
}

function classifyV6(g: number[]): AddressClass {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zero96 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (zero96 && g5 === 0 && g6 === 0 && g7 === 0) return "unspecified";
  if (zero96 && g5 === 0 && g6 === 0 && g7 === 1) return "loopback";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses reach
  // the embedded IPv4 address, so they are judged by it: ::ffff:169.254.169.254 is the metadata server.
  if ((zero96 && (g5 === 0xffff || g5 === 0)) || (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)) {
    return classifyV4(g6 * 65536 + g7);
  }
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) return "metadata";
  if ((g0 & 0xffc0) === 0xfe80) return "link-local";
  if ((g0 & 0xfe00) === 0xfc00) return "private";
  if ((g0 & 0xff00) === 0xff00) return "multicast";
  return "public";
}

/** Classifies an IP literal (v4 or v6, with or without brackets). Null when it is not an IP address. Pure. */
export function classifyIp(ip: string): AddressClass | null {
  const bare = ip.replace(/^\[|\]$/g, "");
  const v4 = parseV4(bare);
  if (v4 !== null) return classifyV4(v4);
  if (!bare.includes(":")) return null;
  const v6 = parseV6(bare);
  return v6 ? classifyV6(v6) : null;
}

export interface AddressPolicy {
  /** Allow link-local and cloud-metadata destinations. Off by default. */
  allowLinkLocal?: boolean;
}

/** Why an address must not be contacted, or null when it may be. Pure. */
export function blockedAddressReason(ip: string, policy: AddressPolicy = {}): string | null {
  if (policy.allowLinkLocal) return null;
  const cls = classifyIp(ip);
  if (cls === "metadata") return `${ip} is a cloud instance-metadata address`;
  if (cls === "link-local") return `${ip} is a link-local address`;
  return null;
}

function normalizeHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "")
    .toLowerCase();
}

/** Why a hostname (before resolution) must not be contacted, or null. Pure. */
export function blockedHostReason(hostname: string, policy: AddressPolicy = {}): string | null {
  if (policy.allowLinkLocal) return null;
  const host = normalizeHost(hostname);
  if (METADATA_HOSTNAMES.includes(host)) return `${host} is a cloud instance-metadata host`;
  return isIP(host) ? blockedAddressReason(host, policy) : null;
}

/** True for `localhost` and loopback IP literals. Does not resolve names. Pure. */
export function isLoopbackHost(hostname: string): boolean {
  const host = normalizeHost(hostname);
  return host === "localhost" || host.endsWith(".localhost") || classifyIp(host) === "loopback";
}

function blocked(host: string, reason: string): OciError {
  return new OciError("BLOCKED_ADDRESS", `refusing to connect to ${host}: ${reason} (set allowLinkLocal to permit it)`, undefined, { reason: "ssrf" });
}

/**
 * Resolves `hostname` (every address) and throws BLOCKED_ADDRESS when any of them is link-local or a metadata
 * address, UNAVAILABLE (reason "dns") when it does not resolve. IP literals are judged without DNS.
 */
export async function assertHostAllowed(hostname: string, policy: AddressPolicy & { resolve?: Resolver } = {}): Promise<ResolvedAddress[]> {
  const host = normalizeHost(hostname);
  const byName = blockedHostReason(host, policy);
  if (byName) throw blocked(host, byName);
  const family = isIP(host);
  if (family) return [{ address: host, family: family === 6 ? 6 : 4 }];
  let addrs: ResolvedAddress[];
  try {
    addrs = await (policy.resolve ?? systemResolver)(host);
  } catch (e) {
    const code = (e as { code?: string }).code ?? "ENOTFOUND";
    throw new OciError("UNAVAILABLE", `cannot resolve host ${host} (${code})`, undefined, { cause: e, reason: "dns" });
  }
  if (addrs.length === 0) throw new OciError("UNAVAILABLE", `host ${host} has no addresses`, undefined, { reason: "dns" });
  for (const a of addrs) {
    const why = blockedAddressReason(a.address, policy);
    if (why) throw blocked(host, `it resolves to ${why}`);
  }
  return addrs;
}

/** The error code a guarded lookup fails with, so the transport can map it back to BLOCKED_ADDRESS. */
export const BLOCKED_LOOKUP_CODE = "E_OCI_BLOCKED_ADDRESS";

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net/tls.connect that applies the same policy at connect time, so a name that resolved to a
 * harmless address during the check cannot resolve to the metadata server for the real connection (DNS rebinding).
 */
export function guardedLookup(policy: AddressPolicy & { resolve?: Resolver } = {}) {
  return (hostname: string, options: LookupOptions | number | undefined, callback: LookupCallback): void => {
    const opts: LookupOptions = typeof options === "number" ? { family: options } : (options ?? {});
    assertHostAllowed(hostname, policy).then(
      (addrs) => {
        const wanted = opts.family === 4 || opts.family === 6 ? addrs.filter((a) => a.family === opts.family) : addrs;
        if (wanted.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`no IPv${String(opts.family)} address for ${hostname}`);
          err.code = "ENOTFOUND";
          callback(err, "");
          return;
        }
        if (opts.all)
          callback(
            null,
            wanted.map((a) => ({ address: a.address, family: a.family })),
          );
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (e: unknown) => {
        const err: NodeJS.ErrnoException = new Error((e as Error).message);
        err.code =
          e instanceof OciError && e.code === "BLOCKED_ADDRESS" ? BLOCKED_LOOKUP_CODE : ((e as { cause?: { code?: string } }).cause?.code ?? "ENOTFOUND");
        callback(err, "");
      },
    );
  };
}

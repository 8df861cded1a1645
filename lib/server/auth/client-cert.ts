import "server-only";
import { ssoRecencyRefusal, ssoSignInDueAt } from "./sso-recency";
import { createHash, createHmac, timingSafeEqual, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { db } from "../../db";
import { env } from "../../env";
import type { Actor, Role } from "../actor";

/**
 * The TCP peer of this request, as stamped by scripts/server.mjs. Verified with the per-process secret that
 * server keeps on globalThis; without it (plain `next start`) there is no trustworthy peer address.
 */
export function verifiedPeer(headers: Headers): string | null {
  const secret = (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret;
  const peer = headers.get("x-imprimatur-peer");
  const mac = headers.get("x-imprimatur-peer-mac");
  if (!secret || !peer || !mac || !/^[0-9a-f]{64}$/.test(mac)) return null;
  const want = createHmac("sha256", secret).update(peer).digest();
  return timingSafeEqual(want, Buffer.from(mac, "hex")) ? peer : null;
}

function ipv4ToInt(ip: string): number {
  return ip.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

/** Whether `ip` is one of the configured proxies: exact addresses or IPv4 CIDRs. */
export function isTrustedProxy(ip: string, list: readonly string[]): boolean {
  for (const entry of list) {
    const [net, bitsRaw] = entry.split("/");
    if (!net) continue;
    if (bitsRaw === undefined) {
      if (net === ip) return true;
      continue;
    }
    const bits = Number(bitsRaw);
    if (isIP(net) === 4 && isIP(ip) === 4 && bits >= 0 && bits <= 32) {
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if ((ipv4ToInt(net) & mask) === (ipv4ToInt(ip) & mask)) return true;
    }
  }
  return false;
}

/** One pass; the lookahead regex it replaces rescanned the rest of the header from every comma (quadratic). */
function hasCommaOutsideQuotes(value: string): boolean {
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 /* " */) quoted = !quoted;
    else if (c === 44 /* , */ && !quoted) return true;
  }
  return false;
}

/**
 * The client certificate a TLS-terminating proxy forwards: Envoy's X-Forwarded-Client-Cert (`Cert="<url-encoded
 * PEM>"`, or only `Hash=<hex SHA-256 of the DER>`), or a URL-encoded PEM as nginx's `$ssl_client_escaped_cert`.
 * Returns the SHA-256 fingerprint of the certificate, or null when the header holds none.
 */
export function clientCertFingerprint(value: string): { fingerprint: string; subject: string | null } | null {
  if (value.length > 16_384) return null;
  // XFCC elements are comma-separated, one per proxy hop; a proxy that appends would leave a client-supplied element
  // first. Only a header with exactly one element is believed. (Commas inside quoted values do not count.)
  if (hasCommaOutsideQuotes(value) && /(?:^|[;,])\s*(?:Cert|Hash|By)=/i.test(value)) return null;
  const cert = /(?:^|[;,])\s*Cert="([^"]+)"/i.exec(value)?.[1] ?? (value.includes("BEGIN") || value.includes("%2D%2D") ? value : null);
  if (cert) {
    try {
      const x = new X509Certificate(decodeURIComponent(cert));
      return { fingerprint: `sha256:${createHash("sha256").update(x.raw).digest("hex")}`, subject: x.subject.replace(/\n/g, ", ") };
    } catch {
      return null;
    }
  }
  const hash = /(?:^|[;,])\s*Hash=([0-9a-fA-F]{64})/.exec(value)?.[1];
  return hash ? { fingerprint: `sha256:${hash.toLowerCase()}`, subject: null } : null;
}

/**
 * Authenticates by a client certificate forwarded by a configured proxy. The header is ignored unless the request's
 * verified TCP peer is in IMPRIMATUR_TRUSTED_PROXIES; the certificate must be registered to an enabled user.
 */
export async function actorForClientCert(headers: Headers): Promise<{ actor: Actor | null; reason: string } | null> {
  const e = env();
  const value = headers.get(e.IMPRIMATUR_CLIENT_CERT_HEADER);
  if (!value) return null;
  const peer = verifiedPeer(headers);
  if (!peer) return { actor: null, reason: "client certificate header ignored: the peer address is unknown (serve with scripts/server.mjs)" };
  if (!isTrustedProxy(peer, e.IMPRIMATUR_TRUSTED_PROXIES))
    return { actor: null, reason: `client certificate header from ${peer}, which is not a trusted proxy` };
  const cert = clientCertFingerprint(value);
  if (!cert) return { actor: null, reason: "the client certificate header holds no readable certificate" };
  const row = await db.clientCertificate.findUnique({
    where: { fingerprint: cert.fingerprint },
    include: { user: { select: { id: true, email: true, name: true, role: true, disabled: true, oidcSubject: true, lastSignInAt: true } } },
  });
  if (!row || row.revokedAt || row.user.disabled)
    return { actor: null, reason: `client certificate ${cert.fingerprint} is not registered, revoked, or its user is disabled` };
  const stale = ssoRecencyRefusal(
    ssoSignInDueAt({ linked: row.user.oidcSubject !== null, lastSignInAt: row.user.lastSignInAt }),
    `client certificate ${cert.fingerprint}`,
  );
  if (stale) return { actor: null, reason: stale };
  return {
    actor: { kind: "user", id: row.user.id, email: row.user.email, name: row.user.name, role: row.user.role as Role, via: "certificate" },
    reason: "ok",
  };
}

import "server-only";
import { ssoRecencyRefusal, ssoSignInDueAt } from "./sso-recency";
import { createHash, createHmac, timingSafeEqual, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { db } from "../../db";
import { env } from "../../env";
import type { Actor, Role } from "../actor";
import { parseXfcc, XFCC_MAX_LENGTH } from "./xfcc";

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

export type ForwardedCert = { ok: true; fingerprint: string; subject: string | null } | { ok: false; reason: string };

const refuse = (reason: string): ForwardedCert => ({ ok: false, reason: `client certificate header refused: ${reason}` });

/**
 * One URL-encoded PEM certificate, and nothing else: the decoded text must be a single CERTIFICATE block (OpenSSL
 * would read the first block and ignore whatever follows it, such as an element a proxy appended).
 */
function certFromEncodedPem(encoded: string, what: string): ForwardedCert {
  if (/[,;"]/.test(encoded)) return refuse(`${what} holds a "," ";" or quote that URL encoding would have escaped`);
  let pem: string;
  try {
    pem = decodeURIComponent(encoded).trim();
  } catch {
    return refuse(`${what} is not valid URL encoding`);
  }
  if (!/^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----$/.test(pem)) return refuse(`${what} is not exactly one PEM certificate`);
  try {
    const x = new X509Certificate(pem);
    return { ok: true, fingerprint: `sha256:${createHash("sha256").update(x.raw).digest("hex")}`, subject: x.subject.replace(/\n/g, ", ") };
  } catch {
    return refuse(`${what} is not a readable certificate`);
  }
}

/**
 * The client certificate a TLS-terminating proxy forwards: Envoy's X-Forwarded-Client-Cert (`Cert="<url-encoded
 * PEM>"`, or only `Hash=<hex SHA-256 of the DER>`), or a URL-encoded PEM as nginx's `$ssl_client_escaped_cert`.
 * Answers the SHA-256 fingerprint of the certificate, or why the header is refused.
 */
export function readForwardedClientCert(value: string): ForwardedCert {
  if (value.length > XFCC_MAX_LENGTH) return refuse(`it is over ${XFCC_MAX_LENGTH} characters`);
  // nginx: the whole value is one URL-encoded PEM (it has no key=value pairs, so it never starts like XFCC).
  if (/^\s*(?:-----BEGIN|%2D%2D%2D%2D%2DBEGIN)/i.test(value)) return certFromEncodedPem(value.trim(), "the URL-encoded PEM");
  const parsed = parseXfcc(value);
  if (!parsed.ok) return refuse(`not a well-formed x-forwarded-client-cert: ${parsed.reason}`);
  // One element per proxy hop. A proxy that appends (Envoy APPEND_FORWARD) leaves whatever the client sent first, and
  // nothing in an element says which proxy wrote it: only a header the trusted proxy wrote alone (SANITIZE_SET) is
  // believed, as README documents.
  if (parsed.elements.length !== 1)
    return refuse(
      `it holds ${parsed.elements.length} elements; only one, written by the trusted proxy, is believed (configure Envoy with forward_client_cert_details: SANITIZE_SET)`,
    );
  const element = parsed.elements[0]!;
  const cert = element.find((p) => p.key === "cert")?.value;
  const hash = element.find((p) => p.key === "hash")?.value;
  if (hash !== undefined && !/^[0-9a-fA-F]{64}$/.test(hash)) return refuse("Hash is not a hex SHA-256");
  if (cert !== undefined) {
    const read = certFromEncodedPem(cert, "Cert");
    // Both given: they must name the same certificate.
    if (read.ok && hash !== undefined && read.fingerprint !== `sha256:${hash.toLowerCase()}`) return refuse("Hash is not the SHA-256 of Cert");
    return read;
  }
  if (hash !== undefined) return { ok: true, fingerprint: `sha256:${hash.toLowerCase()}`, subject: null };
  return refuse("it has neither Cert nor Hash");
}

/** The forwarded certificate's fingerprint and subject, or null when the header is refused (readForwardedClientCert says why). */
export function clientCertFingerprint(value: string): { fingerprint: string; subject: string | null } | null {
  const read = readForwardedClientCert(value);
  return read.ok ? { fingerprint: read.fingerprint, subject: read.subject } : null;
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
  const cert = readForwardedClientCert(value);
  if (!cert.ok) return { actor: null, reason: cert.reason };
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

import { createHash, X509Certificate as NodeX509Certificate, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { AnchorCertificates, CertificateSummary } from "../verification";

/**
 * X.509 certificates for the certificate-based verifiers (Notation, cosign keyless / cert-based, RFC 3161 TSAs).
 *
 * Parsing uses pkijs (extensions, names) and node:crypto (signature checks, key export). @peculiar/x509 is not used
 * here: it needs a global `reflect-metadata` polyfill (tsyringe), which a framework-free library should not install.
 */

export class CertificateParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateParseError";
  }
}

export const EKU = {
  codeSigning: "1.3.6.1.5.5.7.3.3",
  timeStamping: "1.3.6.1.5.5.7.3.8",
} as const;

const OID_FULCIO_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8";
const OID_FULCIO_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1";

// A real certificate is 1-3 KiB; a few are larger with many SANs. Anything past this is not worth parsing.
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

export interface ParsedCertificate {
  der: Buffer;
  summary: CertificateSummary;
  /** RFC 4514-style, in encoding order ("C=US, O=Notary, CN=alpine"), with special characters escaped. */
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  /** basicConstraints cA (false when the extension is absent). */
  isCA: boolean;
  pathLen: number | null;
  /** null when the certificate has no keyUsage extension. */
  keyUsage: { digitalSignature: boolean; keyCertSign: boolean } | null;
  /** null when the certificate has no extendedKeyUsage extension. */
  eku: string[] | null;
  node: NodeX509Certificate;
}

const NAME_LABELS: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "SERIALNUMBER",
  "2.5.4.9": "STREET",
  "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.1": "UID",
  "1.2.840.113549.1.9.1": "E",
};

// Escapes per RFC 4514 so that a crafted value ("x, CN=root") cannot pose as another name component.
function escapeDnValue(v: string): string {
  let out = v.replace(/[\\,+"<>;]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
  if (out.startsWith(" ") || out.startsWith("#")) out = `\\${out}`;
  if (out.endsWith(" ") && !out.endsWith("\\ ")) out = `${out.slice(0, -1)}\\ `;
  return out;
}

function asn1String(value: unknown): string {
  const block = value as { valueBlock?: { value?: unknown; valueHexView?: Uint8Array } };
  const v = block.valueBlock?.value;
  if (typeof v === "string") return v;
  const hex = block.valueBlock?.valueHexView;
  return hex ? `#${Buffer.from(hex).toString("hex")}` : "";
}

export function formatName(name: pkijs.RelativeDistinguishedNames): string {
  return name.typesAndValues.map((tv) => `${NAME_LABELS[tv.type] ?? tv.type}=${escapeDnValue(asn1String(tv.value))}`).join(", ");
}

function toDer(input: string | Uint8Array): Buffer {
  if (typeof input !== "string") return Buffer.from(input);
  const blocks = splitPem(input);
  if (blocks.length !== 1)
    throw new CertificateParseError(
      blocks.length === 0 ? "no PEM certificate found (-----BEGIN CERTIFICATE-----)" : `expected one certificate, found ${blocks.length}`,
    );
  return blocks[0]!;
}

const PEM_RE = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g;

/**
 * The `-----BEGIN <label>-----` … `-----END <label>-----` blocks of a text, whole, in order, found with indexOf
 * (linear). `unterminated` counts BEGIN lines without their END. A lazy `[\s\S]*?` regex rescans the rest of the
 * text from every BEGIN, quadratic on a text of many BEGIN lines.
 */
export function pemBlocks(text: string, label: string): { blocks: string[]; unterminated: number } {
  const begin = `-----BEGIN ${label}-----`;
  const end = `-----END ${label}-----`;
  const blocks: string[] = [];
  let unterminated = 0;
  let i = text.indexOf(begin);
  // The next END at or after the cursor, searched again only once the cursor has passed it: each character is
  // scanned a bounded number of times, however many BEGIN lines there are.
  let e = -2;
  while (i >= 0) {
    if (e !== -1 && e < i + begin.length) e = text.indexOf(end, i + begin.length);
    const nextBegin = text.indexOf(begin, i + begin.length);
    if (e < 0 || (nextBegin >= 0 && nextBegin < e)) {
      unterminated++;
      i = nextBegin;
      continue;
    }
    blocks.push(text.slice(i, e + end.length));
    i = text.indexOf(begin, e + end.length);
  }
  return { blocks, unterminated };
}

/** Splits a PEM bundle into DER certificates. Text outside the blocks is ignored, as openssl does. */
function splitPem(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(PEM_RE)) {
    const body = (m[1] ?? "").replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) throw new CertificateParseError("PEM certificate body is not base64");
    out.push(Buffer.from(body, "base64"));
  }
  if (out.length === 0 && pem.includes("-----BEGIN CERTIFICATE-----")) throw new CertificateParseError("PEM certificate block is not terminated");
  return out;
}

/** Counts the PEM certificate blocks without decoding them, to refuse oversized bundles cheaply. */
export function countPemCertificates(pem: string): number {
  return pem.split("-----BEGIN CERTIFICATE-----").length - 1;
}

/** Parses one certificate, PEM or DER. Throws CertificateParseError with a readable message on any bad input. */
export function parseCertificate(input: string | Uint8Array): ParsedCertificate {
  if (typeof input === "string" && input.length > MAX_CERTIFICATE_BYTES * 2)
    throw new CertificateParseError(`certificate PEM over ${MAX_CERTIFICATE_BYTES * 2} characters`);
  const der = toDer(input);
  if (der.length > MAX_CERTIFICATE_BYTES) throw new CertificateParseError(`certificate over ${MAX_CERTIFICATE_BYTES} bytes`);
  if (der.length < 2 || der[0] !== 0x30) throw new CertificateParseError("not a DER certificate (expected an ASN.1 SEQUENCE)");
  let cert: pkijs.Certificate;
  let node: NodeX509Certificate;
  try {
    cert = pkijs.Certificate.fromBER(arrayBuffer(der));
    node = new NodeX509Certificate(der);
  } catch (e) {
    throw new CertificateParseError(`unreadable certificate: ${(e as Error).message}`);
  }
  try {
    return describe(der, cert, node);
  } catch (e) {
    if (e instanceof CertificateParseError) throw e;
    throw new CertificateParseError(`unreadable certificate: ${(e as Error).message}`);
  }
}

/** Parses a PEM bundle (cosign's chain annotation, a trust store file). */
export function parseCertificates(pem: string, opts: { max?: number } = {}): ParsedCertificate[] {
  const max = opts.max ?? 100;
  const n = countPemCertificates(pem);
  if (n > max) throw new CertificateParseError(`${n} certificates, more than the limit of ${max}`);
  return splitPem(pem).map((der) => parseCertificate(der));
}

/** A standalone ArrayBuffer copy, as pkijs/asn1js want (a Buffer may be a view into a shared pool). */
export function arrayBuffer(u8: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(u8.byteLength);
  new Uint8Array(out).set(u8);
  return out;
}

function extension(cert: pkijs.Certificate, oid: string): pkijs.Extension | undefined {
  return cert.extensions?.find((e) => e.extnID === oid);
}

function describe(der: Buffer, cert: pkijs.Certificate, node: NodeX509Certificate): ParsedCertificate {
  const subject = formatName(cert.subject);
  const issuer = formatName(cert.issuer);

  const bc = extension(cert, "2.5.29.19")?.parsedValue as pkijs.BasicConstraints | undefined;
  const pathLenRaw = bc?.pathLenConstraint;
  const pathLen = pathLenRaw === undefined ? null : typeof pathLenRaw === "number" ? pathLenRaw : pathLenRaw.valueBlock.valueDec;

  const kuExt = extension(cert, "2.5.29.15")?.parsedValue as asn1js.BitString | undefined;
  let keyUsage: ParsedCertificate["keyUsage"] = null;
  if (kuExt) {
    const first = kuExt.valueBlock.valueHexView[0] ?? 0;
    keyUsage = { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
  }
  const ekuExt = extension(cert, "2.5.29.37")?.parsedValue as pkijs.ExtKeyUsage | undefined;
  const eku = ekuExt ? [...ekuExt.keyPurposes] : null;

  const sans: string[] = [];
  const san = extension(cert, "2.5.29.17")?.parsedValue as pkijs.AltName | undefined;
  for (const gn of san?.altNames ?? []) {
    // rfc822Name (1), dNSName (2) and URI (6) are IA5Strings that pkijs decodes to strings.
    if ((gn.type === 1 || gn.type === 2 || gn.type === 6) && typeof gn.value === "string") sans.push(gn.value);
  }

  const summary: CertificateSummary = {
    subject,
    issuer,
    serial: Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("hex"),
    notBefore: cert.notBefore.value.toISOString(),
    notAfter: cert.notAfter.value.toISOString(),
    fingerprint: `sha256:${createHash("sha256").update(der).digest("hex")}`,
    sans,
    oidcIssuer: oidcIssuer(cert),
  };
  return {
    der,
    summary,
    subject,
    issuer,
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    publicKey: node.publicKey,
    isCA: bc?.cA === true,
    pathLen,
    keyUsage,
    eku,
    node,
  };
}

function oidcIssuer(cert: pkijs.Certificate): string | null {
  const v2 = extension(cert, OID_FULCIO_ISSUER_V2);
  if (v2) {
    // The v2 extension is a DER UTF8String; tolerate a raw string as some early Fulcio builds wrote.
    const raw = v2.extnValue.valueBlock.valueHexView;
    const parsed = asn1js.fromBER(raw);
    if (parsed.offset !== -1 && parsed.result instanceof asn1js.Utf8String) return parsed.result.valueBlock.value;
    return Buffer.from(raw).toString("utf8");
  }
  const v1 = extension(cert, OID_FULCIO_ISSUER_V1);
  // The legacy extension's value is the issuer URL's bytes, not DER.
  if (v1) return Buffer.from(v1.extnValue.valueBlock.valueHexView).toString("utf8");
  return null;
}

/** Summarizes a certificate for display and identity matching. Throws CertificateParseError on bad input. */
export function summarizeCertificate(cert: ParsedCertificate | string | Uint8Array): CertificateSummary {
  return isParsed(cert) ? cert.summary : parseCertificate(cert).summary;
}

function isParsed(c: ParsedCertificate | string | Uint8Array): c is ParsedCertificate {
  return typeof c === "object" && !(c instanceof Uint8Array) && "summary" in c;
}

export type ChainFailure = "malformed" | "too-long" | "untrusted" | "expired" | "not-yet-valid" | "bad-signature" | "constraints";

export type ChainResult = { ok: true; path: CertificateSummary[]; anchorName: string } | { ok: false; code: ChainFailure; reason: string };

interface Anchor {
  name: string;
  cert: ParsedCertificate;
  validFrom: Date | null;
  validUntil: Date | null;
}

function loadAnchors(anchors: readonly AnchorCertificates[]): Anchor[] {
  const out: Anchor[] = [];
  for (const a of anchors) {
    for (const pem of a.certificates) {
      // Trust material is validated when it is configured; an unreadable entry here can only fail to match.
      let certs: ParsedCertificate[];
      try {
        certs = parseCertificates(pem);
      } catch {
        continue;
      }
      for (const cert of certs) out.push({ name: a.name, cert, validFrom: a.validFrom ?? null, validUntil: a.validUntil ?? null });
    }
  }
  return out;
}

function signedBy(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  try {
    return child.node.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

const iso = (d: Date) => d.toISOString();

/**
 * Builds a path from the leaf through the presented intermediates to a certificate of a trust anchor (a root or an
 * intermediate that was configured as trusted) and checks it at `at`: every signature, every validity period,
 * basicConstraints cA (and pathLen) and keyUsage keyCertSign on issuers, and the leaf's extended key usage.
 * Never throws: bad input is a failed result with a reason.
 */
/** Why a built path fails at `at`: a certificate outside its validity, or an issuer that may not issue (CA, keyUsage, pathLen). */
function pathProblem(path: ParsedCertificate[], at: Date): Extract<ChainResult, { ok: false }> | null {
  for (const c of path) {
    if (at > c.notAfter) return { ok: false, code: "expired", reason: `expired: ${c.subject} expired at ${iso(c.notAfter)}, checked at ${iso(at)}` };
    if (at < c.notBefore)
      return { ok: false, code: "not-yet-valid", reason: `not yet valid: ${c.subject} is valid from ${iso(c.notBefore)}, checked at ${iso(at)}` };
  }
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (!c.isCA) return { ok: false, code: "constraints", reason: `${c.subject} issued a certificate but is not a CA (basicConstraints cA is not set)` };
    if (c.keyUsage && !c.keyUsage.keyCertSign)
      return { ok: false, code: "constraints", reason: `${c.subject} issued a certificate but its keyUsage lacks keyCertSign` };
    // pathLen counts the CA certificates below this one, the leaf excluded.
    if (c.pathLen !== null && i - 1 > c.pathLen)
      return { ok: false, code: "constraints", reason: `${c.subject} allows ${c.pathLen} CA certificates below it, the chain has ${i - 1}` };
  }
  return null;
}

export function verifyChain(opts: {
  leaf: ParsedCertificate | string | Uint8Array;
  intermediates: readonly (ParsedCertificate | string | Uint8Array)[];
  anchors: readonly AnchorCertificates[];
  /** The time the chain must be valid at: a trusted signing time, or now. */
  at: Date;
  /** Longest accepted path, leaf and anchor included; also caps the number of presented certificates. */
  maxLength?: number;
  /** EKU the leaf must carry when it has an EKU extension (codeSigning by default); null skips the check. */
  leafEku?: string | null;
}): ChainResult {
  const maxLength = opts.maxLength ?? 10;
  const leafEku = opts.leafEku === undefined ? EKU.codeSigning : opts.leafEku;
  const presented = 1 + opts.intermediates.length;
  if (presented > maxLength) return { ok: false, code: "too-long", reason: `chain of ${presented} certificates exceeds the limit of ${maxLength}` };

  let leaf: ParsedCertificate;
  const intermediates: ParsedCertificate[] = [];
  try {
    leaf = isParsed(opts.leaf) ? opts.leaf : parseCertificate(opts.leaf);
    for (const c of opts.intermediates) intermediates.push(isParsed(c) ? c : parseCertificate(c));
  } catch (e) {
    return { ok: false, code: "malformed", reason: (e as Error).message };
  }
  const anchors = loadAnchors(opts.anchors);
  const at = opts.at;

  const path: ParsedCertificate[] = [leaf];
  const used = new Set<string>([leaf.summary.fingerprint]);
  let anchor: Anchor | undefined;
  for (;;) {
    const cur = path[path.length - 1]!;
    // The certificate itself is trusted (a trusted intermediate, a self-signed leaf pinned in the trust store).
    anchor = anchors.find((a) => a.cert.summary.fingerprint === cur.summary.fingerprint);
    if (anchor) break;
    const named = (c: ParsedCertificate) => c.subject === cur.issuer;
    anchor = anchors.find((a) => named(a.cert) && signedBy(cur, a.cert));
    if (anchor) {
      path.push(anchor.cert);
      break;
    }
    const next = intermediates.find((c) => !used.has(c.summary.fingerprint) && named(c) && signedBy(cur, c));
    if (!next) {
      if (cur.subject === cur.issuer && signedBy(cur, cur)) {
        return { ok: false, code: "untrusted", reason: `untrusted root: ${cur.subject} is not a trusted root` };
      }
      const impostor = [...anchors.map((a) => a.cert), ...intermediates].find((c) => named(c) && c.summary.fingerprint !== cur.summary.fingerprint);
      if (impostor) return { ok: false, code: "bad-signature", reason: `bad signature: ${cur.subject} is not signed by the key of ${impostor.subject}` };
      if (cur.subject === cur.issuer)
        return { ok: false, code: "bad-signature", reason: `bad signature: self-signed ${cur.subject} does not verify with its own key` };
      return {
        ok: false,
        code: "untrusted",
        reason: `untrusted root: the chain ends at ${cur.subject}, issued by ${cur.issuer}, which is neither presented nor trusted`,
      };
    }
    used.add(next.summary.fingerprint);
    path.push(next);
    if (path.length > maxLength) return { ok: false, code: "too-long", reason: `chain of ${path.length} certificates exceeds the limit of ${maxLength}` };
  }
  if (path.length > maxLength) return { ok: false, code: "too-long", reason: `chain of ${path.length} certificates exceeds the limit of ${maxLength}` };

  if (anchor.validFrom && at < anchor.validFrom)
    return { ok: false, code: "not-yet-valid", reason: `trust anchor "${anchor.name}" is trusted only from ${iso(anchor.validFrom)}, checked at ${iso(at)}` };
  if (anchor.validUntil && at > anchor.validUntil)
    return { ok: false, code: "expired", reason: `trust anchor "${anchor.name}" is trusted only until ${iso(anchor.validUntil)}, checked at ${iso(at)}` };

  const broken = pathProblem(path, at);
  if (broken) return broken;
  if (leafEku && leaf.eku && !leaf.eku.includes(leafEku)) {
    return {
      ok: false,
      code: "constraints",
      reason: `${leaf.subject} is not valid for ${ekuName(leafEku)}: its extended key usage is ${leaf.eku.map(ekuName).join(", ") || "empty"}`,
    };
  }
  return { ok: true, path: path.map((c) => c.summary), anchorName: anchor.name };
}

function ekuName(oid: string): string {
  switch (oid) {
    case EKU.codeSigning:
      return "code signing";
    case EKU.timeStamping:
      return "time stamping";
    case "1.3.6.1.5.5.7.3.1":
      return "server auth";
    case "1.3.6.1.5.5.7.3.2":
      return "client auth";
    case "1.3.6.1.5.5.7.3.4":
      return "email protection";
    default:
      return oid;
  }
}

/** PEM of a DER certificate, for trust material and display. */
export function toPem(der: Uint8Array): string {
  const b64 = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

import { createHash, randomBytes, timingSafeEqual, verify as cryptoVerify, constants, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { AnchorCertificates, CertificateSummary } from "../verification";
import { arrayBuffer, EKU, formatName, parseCertificate, verifyChain, type ParsedCertificate } from "./x509";

/**
 * RFC 3161 timestamp tokens (CMS SignedData over a TSTInfo), as Notation (`io.cncf.notary.timestampSignature`) and
 * cosign (`dev.sigstore.cosign/rfc3161timestamp`) attach them. Verified offline and synchronously: pkijs parses,
 * node:crypto checks the signature (pkijs' SignedData.verify is async and wants a WebCrypto engine; node:crypto is
 * simpler and handles RSA-PSS, ECDSA and Ed25519 the same way as certificate signatures).
 */

const OID = {
  signedData: "1.2.840.113549.1.7.2",
  tstInfo: "1.2.840.113549.1.9.16.1.4",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingCertificate: "1.2.840.113549.1.9.16.2.12",
  signingCertificateV2: "1.2.840.113549.1.9.16.2.47",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaPss: "1.2.840.113549.1.1.10",
  ecPublicKey: "1.2.840.10045.2.1",
  ed25519: "1.3.101.112",
} as const;

const HASHES: Record<string, "sha256" | "sha384" | "sha512"> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

const SIGNATURE_HASHES: Record<string, "sha256" | "sha384" | "sha512"> = {
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

// A token with a three-certificate chain is about 6 KiB; refuse anything absurdly larger before parsing it.
export const MAX_TOKEN_BYTES = 256 * 1024;

export type TimestampFailure = "format" | "signature" | "imprint" | "chain";

export type TimestampResult =
  | { ok: true; genTime: Date; tsa: CertificateSummary; anchorName: string }
  | {
      ok: false;
      /**
       * Which step failed. "chain": the token is intact and covers the data, but its TSA is not trusted (or its chain
       * is not valid at genTime), so genTime is only what the token claims.
       */
      failed: TimestampFailure;
      reason: string;
      /** Set only when the token is intact and covers the data ("chain"): the UI shows it as a claimed time. */
      genTime?: Date;
      tsa?: CertificateSummary;
    };

class TokenError extends Error {
  constructor(
    readonly failed: TimestampFailure,
    message: string,
  ) {
    super(message);
  }
}

interface DecodedToken {
  tstInfo: pkijs.TSTInfo;
  eContent: Uint8Array;
  signer: ParsedCertificate;
  others: ParsedCertificate[];
  signerInfo: pkijs.SignerInfo;
}

/**
 * Verifies an RFC 3161 timestamp token: the CMS signature over the signed attributes (whose messageDigest must be the
 * hash of the TSTInfo), the message imprint against `signedData`, the TSA certificate's timeStamping EKU, and its chain
 * to a trusted TSA root at genTime. Never throws.
 */
export function verifyTimestampToken(opts: {
  /** DER TimeStampToken (a CMS ContentInfo); a whole TimeStampResp is accepted too. */
  token: Uint8Array;
  /** The bytes the token should cover (Notation and cosign: the raw signature). */
  signedData: Uint8Array;
  tsaRoots: readonly AnchorCertificates[];
}): TimestampResult {
  let decoded: DecodedToken;
  try {
    decoded = decodeToken(opts.token);
    checkSignature(decoded);
    checkImprint(decoded.tstInfo, opts.signedData);
  } catch (e) {
    if (e instanceof TokenError) return { ok: false, failed: e.failed, reason: e.message };
    return { ok: false, failed: "format", reason: `unreadable timestamp token: ${(e as Error).message}` };
  }
  const { tstInfo, signer, others } = decoded;
  const genTime = tstInfo.genTime;
  const tsa = signer.summary;
  // RFC 3161 2.3: the TSA certificate must carry exactly the timeStamping EKU (critical). Require at least its presence.
  if (!signer.eku?.includes(EKU.timeStamping)) {
    return {
      ok: false,
      failed: "chain",
      reason: `TSA certificate ${tsa.subject} is not valid for time stamping (no timeStamping extended key usage)`,
      genTime,
      tsa,
    };
  }
  if (opts.tsaRoots.length === 0) return { ok: false, failed: "chain", reason: "TSA root not trusted: no TSA roots are configured", genTime, tsa };
  const chain = verifyChain({ leaf: signer, intermediates: others, anchors: opts.tsaRoots, at: genTime, leafEku: EKU.timeStamping });
  if (!chain.ok) {
    const reason =
      chain.code === "untrusted" ? `TSA root not trusted: ${chain.reason}` : `TSA certificate chain is not valid at ${genTime.toISOString()}: ${chain.reason}`;
    return { ok: false, failed: "chain", reason, genTime, tsa };
  }
  return { ok: true, genTime, tsa, anchorName: chain.anchorName };
}

function decodeToken(token: Uint8Array): DecodedToken {
  if (token.byteLength > MAX_TOKEN_BYTES) throw new TokenError("format", `timestamp token over ${MAX_TOKEN_BYTES} bytes`);
  const asn = asn1js.fromBER(arrayBuffer(token));
  if (asn.offset === -1) throw new TokenError("format", "timestamp token is not DER");
  let contentInfoAsn = asn.result;
  // A TimeStampResp is SEQUENCE { PKIStatusInfo SEQUENCE, token ContentInfo }; a ContentInfo starts with an OID.
  if (contentInfoAsn instanceof asn1js.Sequence && contentInfoAsn.valueBlock.value[0] instanceof asn1js.Sequence) {
    const resp = new pkijs.TimeStampResp({ schema: contentInfoAsn });
    if (resp.status.status !== 0 && resp.status.status !== 1) throw new TokenError("format", `the TSA refused the request (PKIStatus ${resp.status.status})`);
    if (!resp.timeStampToken) throw new TokenError("format", "timestamp response has no token");
    contentInfoAsn = resp.timeStampToken.toSchema();
  }
  const ci = new pkijs.ContentInfo({ schema: contentInfoAsn });
  if (ci.contentType !== OID.signedData) throw new TokenError("format", `timestamp token is not CMS SignedData (content type ${ci.contentType})`);
  const sd = new pkijs.SignedData({ schema: ci.content });
  if (sd.encapContentInfo.eContentType !== OID.tstInfo)
    throw new TokenError("format", `timestamp token does not hold a TSTInfo (content type ${sd.encapContentInfo.eContentType})`);
  const octets = sd.encapContentInfo.eContent;
  if (!octets) throw new TokenError("format", "timestamp token has no TSTInfo content");
  const eContent = octetStringBytes(octets);
  const tstInfo = pkijs.TSTInfo.fromBER(arrayBuffer(eContent));
  if (sd.signerInfos.length !== 1) throw new TokenError("format", `timestamp token has ${sd.signerInfos.length} signers, expected 1`);
  const signerInfo = sd.signerInfos[0]!;

  const certs = rawCertificates(ci.content).map((der) => parseCertificate(der));
  const signer = certs.find((c) => identifies(signerInfo.sid, c));
  // RFC 3161 lets a client ask for no certificates; without the TSA certificate the token cannot be checked offline.
  if (!signer) throw new TokenError("format", "the TSA certificate is not in the timestamp token");
  return { tstInfo, eContent, signer, others: certs.filter((c) => c !== signer), signerInfo };
}

function octetStringBytes(o: asn1js.OctetString): Uint8Array {
  if (!o.idBlock.isConstructed) return o.valueBlock.valueHexView;
  // BER constructed OCTET STRING: the value is the concatenation of its parts.
  return Buffer.concat(o.valueBlock.value.map((part) => octetStringBytes(part as asn1js.OctetString)));
}

/** The certificates of a SignedData, as their original bytes (re-encoding a parsed certificate could change them). */
function rawCertificates(signedData: unknown): Uint8Array[] {
  const seq = signedData as asn1js.Sequence;
  const tagged = seq.valueBlock.value.find((b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 0);
  if (!tagged) return [];
  const items = (tagged as asn1js.Constructed).valueBlock.value;
  // Only X.509 certificates (SEQUENCE); attribute and other certificate formats are tagged differently.
  return items.filter((b) => b instanceof asn1js.Sequence).map((b) => new Uint8Array(b.valueBeforeDecodeView));
}

function identifies(sid: unknown, cert: ParsedCertificate): boolean {
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    const serial = Buffer.from(sid.serialNumber.valueBlock.valueHexView).toString("hex");
    return formatName(sid.issuer) === cert.issuer && serial === cert.summary.serial;
  }
  // [0] SubjectKeyIdentifier
  const ski = (sid as asn1js.Primitive | undefined)?.valueBlock?.valueHexView;
  if (!ski) return false;
  const certSki = pkijs.Certificate.fromBER(arrayBuffer(cert.der)).extensions?.find((e) => e.extnID === "2.5.29.14")?.parsedValue as
    asn1js.OctetString | undefined;
  return !!certSki && Buffer.from(certSki.valueBlock.valueHexView).equals(Buffer.from(ski));
}

function attribute(si: pkijs.SignerInfo, oid: string): unknown[] | undefined {
  return si.signedAttrs?.attributes.find((a) => a.type === oid)?.values;
}

function checkSignature(t: DecodedToken): void {
  const si = t.signerInfo;
  // RFC 3161 tokens always carry signed attributes: the signature covers them, and they bind the TSTInfo by hash.
  if (!si.signedAttrs || si.signedAttrs.attributes.length === 0) throw new TokenError("format", "timestamp token has no signed attributes");
  const digestName = HASHES[si.digestAlgorithm.algorithmId];
  if (!digestName) throw new TokenError("format", `unsupported digest algorithm ${si.digestAlgorithm.algorithmId}`);

  const ct = attribute(si, OID.contentType)?.[0];
  if (!(ct instanceof asn1js.ObjectIdentifier) || ct.valueBlock.toString() !== OID.tstInfo)
    throw new TokenError("signature", "signed content-type attribute is not TSTInfo");
  const md = attribute(si, OID.messageDigest)?.[0];
  if (!(md instanceof asn1js.OctetString)) throw new TokenError("signature", "timestamp token has no message-digest attribute");
  const actual = createHash(digestName).update(t.eContent).digest();
  if (!safeEqual(actual, md.valueBlock.valueHexView))
    throw new TokenError("signature", "the TSTInfo does not match the token's signed message digest (the token was altered)");

  checkSigningCertificate(si, t.signer);

  // The signature covers the DER SET OF the signed attributes; pkijs keeps those bytes with the SET tag restored.
  const signedBytes = new Uint8Array(si.signedAttrs.encodedValue);
  const sig = new Uint8Array(si.signature.valueBlock.valueHexView);
  if (!verifyCmsSignature(si.signatureAlgorithm, digestName, signedBytes, sig, t.signer.publicKey)) {
    throw new TokenError("signature", `the timestamp token's signature does not verify with the key of ${t.signer.subject}`);
  }
}

/**
 * ESS signing-certificate(-v2) binds the signature to one certificate, so a token cannot be re-attributed to another
 * certificate with the same key. When present it must name the certificate that verifies the signature.
 */
function checkSigningCertificate(si: pkijs.SignerInfo, signer: ParsedCertificate): void {
  const v2 = attribute(si, OID.signingCertificateV2)?.[0];
  const v1 = attribute(si, OID.signingCertificate)?.[0];
  const value = v2 ?? v1;
  if (!value) return;
  const certs = (value as asn1js.Sequence).valueBlock?.value?.[0] as asn1js.Sequence | undefined;
  const first = certs?.valueBlock?.value?.[0] as asn1js.Sequence | undefined;
  const parts = first?.valueBlock?.value ?? [];
  let hashName = v2 ? "sha256" : "sha1";
  let idx = 0;
  if (v2 && parts[0] instanceof asn1js.Sequence) {
    const oid = parts[0].valueBlock.value[0];
    const name = oid instanceof asn1js.ObjectIdentifier ? HASHES[oid.valueBlock.toString()] : undefined;
    if (!name) throw new TokenError("format", "unsupported hash in the signing-certificate attribute");
    hashName = name;
    idx = 1;
  }
  const hash = parts[idx];
  if (!(hash instanceof asn1js.OctetString)) throw new TokenError("format", "unreadable signing-certificate attribute");
  if (!safeEqual(createHash(hashName).update(signer.der).digest(), hash.valueBlock.valueHexView)) {
    throw new TokenError("signature", `the token's signing-certificate attribute does not name ${signer.subject}`);
  }
}

function verifyCmsSignature(alg: pkijs.AlgorithmIdentifier, digestName: string, data: Uint8Array, sig: Uint8Array, key: KeyObject): boolean {
  const oid = alg.algorithmId;
  try {
    if (oid === OID.rsaPss) {
      const params = new pkijs.RSASSAPSSParams({ schema: alg.algorithmParams });
      const hash = HASHES[params.hashAlgorithm.algorithmId];
      if (!hash) return false;
      return cryptoVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: params.saltLength }, sig);
    }
    if (oid === OID.ed25519) return cryptoVerify(null, data, key, sig);
    // rsaEncryption and id-ecPublicKey name only the key type: the digest algorithm gives the hash.
    const hash = oid === OID.rsaEncryption || oid === OID.ecPublicKey ? digestName : SIGNATURE_HASHES[oid];
    if (!hash) return false;
    if (key.asymmetricKeyType === "ec") return cryptoVerify(hash, data, { key, dsaEncoding: "der" }, sig);
    if (key.asymmetricKeyType === "rsa") return cryptoVerify(hash, data, key, sig);
    return false;
  } catch {
    return false;
  }
}

function checkImprint(tst: pkijs.TSTInfo, signedData: Uint8Array): void {
  const algOid = tst.messageImprint.hashAlgorithm.algorithmId;
  const hashName = HASHES[algOid];
  if (!hashName) throw new TokenError("imprint", `unsupported message imprint algorithm ${algOid} (sha256, sha384 or sha512 expected)`);
  const expected = createHash(hashName).update(signedData).digest();
  const imprint = tst.messageImprint.hashedMessage.valueBlock.valueHexView;
  if (!safeEqual(expected, imprint)) {
    throw new TokenError(
      "imprint",
      `the token covers other data: its ${hashName} imprint is ${Buffer.from(imprint).toString("hex")}, the data hashes to ${expected.toString("hex")}`,
    );
  }
}

function safeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/** The certificates a token carries (TSA certificate first when found), e.g. to show or pin its root. */
export function timestampTokenCertificates(token: Uint8Array): ParsedCertificate[] {
  const d = decodeToken(token);
  return [d.signer, ...d.others];
}

/**
 * A DER TimeStampReq (RFC 3161 2.4.1) for `data`: SHA-256 message imprint, a random nonce, and certReq so the token
 * carries the TSA certificate (cosign and sigstore-js expect it there). Returns the request and its nonce.
 */
export function buildTimestampRequest(data: Uint8Array): { request: Buffer; nonce: Buffer } {
  const nonce = randomBytes(8);
  nonce[0] = nonce[0]! & 0x7f; // a positive INTEGER
  if (nonce[0] === 0) nonce[0] = 1; // and minimally encoded
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: "2.16.840.1.101.3.4.2.1", algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: arrayBuffer(createHash("sha256").update(data).digest()) }),
    }),
    nonce: new asn1js.Integer({ valueHex: arrayBuffer(nonce) }),
    certReq: true,
  });
  return { request: Buffer.from(req.toSchema().toBER(false)), nonce };
}

/**
 * The TimeStampToken (DER ContentInfo) out of a TSA's TimeStampResp, after checking the PKIStatus is granted and the
 * token answers our nonce. Throws an Error saying what is wrong; the caller still verifies the token itself.
 */
export function extractTimestampToken(response: Uint8Array, nonce: Uint8Array): Buffer {
  if (response.byteLength > MAX_TOKEN_BYTES) throw new Error(`timestamp response over ${MAX_TOKEN_BYTES} bytes`);
  const asn = asn1js.fromBER(arrayBuffer(response));
  if (asn.offset === -1) throw new Error("timestamp response is not DER");
  let resp: pkijs.TimeStampResp;
  try {
    resp = new pkijs.TimeStampResp({ schema: asn.result });
  } catch (e) {
    throw new Error(`timestamp response is not a TimeStampResp: ${(e as Error).message}`);
  }
  const status = resp.status.status;
  if (status !== 0 && status !== 1)
    throw new Error(
      `the TSA refused the request (PKIStatus ${status}${resp.status.statusStrings?.length ? `: ${resp.status.statusStrings.map((s) => s.valueBlock.value).join("; ")}` : ""})`,
    );
  if (!resp.timeStampToken) throw new Error("timestamp response has no token");
  const token = Buffer.from(resp.timeStampToken.toSchema().toBER(false));
  const sd = new pkijs.SignedData({ schema: resp.timeStampToken.content });
  const octets = sd.encapContentInfo.eContent;
  if (!octets) throw new Error("timestamp token has no TSTInfo content");
  const tst = pkijs.TSTInfo.fromBER(arrayBuffer(octetStringBytes(octets)));
  const got = tst.nonce ? Buffer.from(tst.nonce.valueBlock.valueHexView) : null;
  if (!got || !got.equals(Buffer.from(nonce))) throw new Error("timestamp token does not answer our nonce (a replayed or foreign response)");
  return token;
}

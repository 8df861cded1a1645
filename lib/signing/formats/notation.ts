import { constants, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { sha256Digest } from "../../oci/digest";
import { verifyTimestampToken } from "../trust/rfc3161";
import { CHECKS, failAt, type CheckResult, type SignatureTime, type SignatureVerification, type Signer, type TrustMaterial, type Verdict } from "../verification";
import { EKU, parseCertificate, verifyChain, type ParsedCertificate } from "../trust/x509";

/**
 * Notary Project (Notation) signatures, JWS envelope (notaryproject/specifications signature-envelope-jws.md), verified
 * offline against certificate roots and TSA roots. The trust policy (which subject may sign which repository) and
 * revocation are judged later by lib/signing/trust/judgement.ts, which appends CHECKS.identity and CHECKS.revocation; this module
 * leaves them out so that they are never reported twice.
 */

export const NOTATION_JWS = "application/jose+json";
export const NOTATION_COSE = "application/cose";
export const NOTATION_PAYLOAD = "application/vnd.cncf.notary.payload.v1+json";

export const NOTATION_CHECKS = {
  envelope: "envelope is a valid Notary Project signature",
  timestamp: "timestamp token covers the signature",
} as const;

/** The pipeline as the UI shows it; checks not reached are reported with passed: null. */
export const NOTATION_CHECK_ORDER: readonly string[] = [
  CHECKS.payloadDigest,
  NOTATION_CHECKS.envelope,
  CHECKS.namesDigest,
  CHECKS.signature,
  NOTATION_CHECKS.timestamp,
  CHECKS.chain,
  CHECKS.expiry,
];

// A Notation envelope with a three-certificate chain and a timestamp is about 10 KiB.
export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;
const MAX_CHAIN = 10;

const SCHEME = "io.cncf.notary.signingScheme";
const SIGNING_TIME = "io.cncf.notary.signingTime";
const EXPIRY = "io.cncf.notary.expiry";
const AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime";
const PLUGIN = "io.cncf.notary.verificationPlugin";
const PLUGIN_MIN_VERSION = "io.cncf.notary.verificationPluginMinVersion";
/** Headers the spec marks critical: when present they must be listed in `crit`. */
const CRITICAL_HEADERS = [SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME, PLUGIN, PLUGIN_MIN_VERSION] as const;

type Alg = "PS256" | "PS384" | "PS512" | "ES256" | "ES384" | "ES512";
const ALGS: Record<Alg, { hash: string; kind: "rsa-pss"; saltLength: number } | { hash: string; kind: "ecdsa"; curve: string }> = {
  PS256: { hash: "sha256", kind: "rsa-pss", saltLength: 32 },
  PS384: { hash: "sha384", kind: "rsa-pss", saltLength: 48 },
  PS512: { hash: "sha512", kind: "rsa-pss", saltLength: 64 },
  ES256: { hash: "sha256", kind: "ecdsa", curve: "prime256v1" },
  ES384: { hash: "sha384", kind: "ecdsa", curve: "secp384r1" },
  ES512: { hash: "sha512", kind: "ecdsa", curve: "secp521r1" },
};

const b64url = z.string().regex(/^[A-Za-z0-9_-]*$/, "not base64url");
const envelopeSchema = z
  .object({
    payload: b64url,
    protected: b64url,
    header: z
      .object({
        x5c: z.array(z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/, "not base64")).min(1),
        "io.cncf.notary.timestampSignature": z.string().optional(),
        "io.cncf.notary.signingAgent": z.string().optional(),
      })
      .loose(),
    signature: b64url.min(1),
  })
  // The JWS envelope spec allows no other top-level members (e.g. a second, unprotected payload).
  .strict();

const rfc3339 = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)), "not an RFC 3339 time");
const protectedSchema = z
  .object({
    alg: z.string(),
    cty: z.literal(NOTATION_PAYLOAD),
    crit: z.array(z.string()).min(1),
    [SCHEME]: z.string(),
    [SIGNING_TIME]: rfc3339.optional(),
    [EXPIRY]: rfc3339.optional(),
    [AUTHENTIC_SIGNING_TIME]: rfc3339.optional(),
  })
  .loose();

const payloadSchema = z
  .object({
    targetArtifact: z
      .object({
        mediaType: z.string().min(1),
        digest: z.string().min(1),
        size: z.number().int().nonnegative(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .loose(),
  })
  .loose();

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join(".") || "root"}: ${i.message}`).join("; ");
}

function decodeJson(b64: string): unknown {
  return JSON.parse(Buffer.from(b64, "base64url").toString("utf8"));
}

/** Appends the checks that were not reached, so the UI always shows the whole pipeline. */
function complete(checks: CheckResult[], order: readonly string[]): CheckResult[] {
  const seen = new Set(checks.map((c) => c.check));
  for (const name of order) if (!seen.has(name)) checks.push({ check: name, passed: null, detail: "not run: an earlier check failed" });
  return checks;
}

/**
 * Verifies one Notation signature envelope attached to `subjectDigest`. Ordered checks, stopping at the first failure:
 * envelope digest, envelope format, names the digest, JWS signature with the x5c leaf key, timestamp token over the
 * signature, x5c chain to a trusted root (at the timestamp's time when a trusted TSA vouches for it, else now), expiry.
 * Never throws.
 */
export function verifyNotationSignature(opts: {
  envelope: Uint8Array;
  /** The signature layer's media type: application/jose+json (application/cose is reported as unsupported). */
  mediaType: string;
  /** The image manifest digest the signature manifest's subject points at. */
  subjectDigest: string;
  trust: TrustMaterial;
  now: Date;
  /** Refuse envelopes larger than this (default 1 MiB). */
  maxBytes?: number;
  /** The envelope layer's descriptor digest; when given, the envelope bytes must hash to it. */
  blobDigest?: string;
}): SignatureVerification {
  const checks: CheckResult[] = [];
  let signer: Signer | null = null;
  let time: SignatureTime | null = null;
  const stop = (verdict: Exclude<Verdict, "verified">, check: string, detail: string): SignatureVerification => {
    const r = failAt(checks, verdict, check, detail);
    return { format: "notation", verdict: r.verdict, detail: r.detail, checks: complete(r.checks, NOTATION_CHECK_ORDER), signer, time, trustedBy: null };
  };
  const { envelope, now } = opts;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;

  // 1. The envelope bytes are the layer the manifest names.
  if (envelope.byteLength > maxBytes) return stop("invalid", CHECKS.payloadDigest, `signature envelope of ${envelope.byteLength} bytes is over the limit of ${maxBytes}, not read`);
  if (opts.blobDigest !== undefined) {
    const actual = sha256Digest(envelope);
    if (actual !== opts.blobDigest) return stop("invalid", CHECKS.payloadDigest, `the envelope's bytes don't match its layer digest: descriptor says ${opts.blobDigest}, bytes hash to ${actual}`);
    checks.push({ check: CHECKS.payloadDigest, passed: true, detail: actual });
  } else {
    checks.push({ check: CHECKS.payloadDigest, passed: null, detail: "not checked here: the caller verified the envelope blob against its descriptor" });
  }

  // 2. Envelope format.
  const mediaType = opts.mediaType.split(";")[0]?.trim().toLowerCase();
  if (mediaType === NOTATION_COSE) return stop("unverified", NOTATION_CHECKS.envelope, "COSE envelopes (application/cose) are not supported yet; only JWS (application/jose+json) signatures can be verified");
  if (mediaType !== NOTATION_JWS) return stop("invalid", NOTATION_CHECKS.envelope, `unknown Notation envelope media type ${JSON.stringify(opts.mediaType)}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(envelope).toString("utf8"));
  } catch {
    return stop("invalid", NOTATION_CHECKS.envelope, "the envelope is not JSON");
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) return stop("invalid", NOTATION_CHECKS.envelope, `not a flattened JWS envelope (${issues(env.error)})`);
  const { payload: payloadB64, protected: protectedB64, header, signature: signatureB64 } = env.data;
  let protectedJson: unknown;
  try {
    protectedJson = decodeJson(protectedB64);
  } catch {
    return stop("invalid", NOTATION_CHECKS.envelope, "the protected header is not base64url JSON");
  }
  const prot = protectedSchema.safeParse(protectedJson);
  if (!prot.success) return stop("invalid", NOTATION_CHECKS.envelope, `bad protected header (${issues(prot.error)})`);
  const ph = prot.data as z.infer<typeof protectedSchema> & Record<string, unknown>;
  if (!(ph.alg in ALGS)) return stop("invalid", NOTATION_CHECKS.envelope, `unsupported alg ${JSON.stringify(ph.alg)} (PS256, PS384, PS512, ES256, ES384 or ES512 expected)`);
  const alg = ph.alg as Alg;
  const crit = ph.crit;
  for (const h of CRITICAL_HEADERS) {
    if (h in ph && !crit.includes(h)) return stop("invalid", NOTATION_CHECKS.envelope, `${h} is present but not listed in crit`);
  }
  for (const h of crit) {
    if (!(h in ph)) return stop("invalid", NOTATION_CHECKS.envelope, `crit lists ${h}, which is not in the protected header`);
    // A critical header this verifier does not implement must fail verification (RFC 7515 4.1.11).
    if (h === PLUGIN || h === PLUGIN_MIN_VERSION) return stop("unverified", NOTATION_CHECKS.envelope, `the signature requires verification plugin ${JSON.stringify(ph[PLUGIN])}, which is not supported`);
    if (!(CRITICAL_HEADERS as readonly string[]).includes(h) && h !== SIGNING_TIME) return stop("invalid", NOTATION_CHECKS.envelope, `crit lists ${h}, which this verifier does not understand`);
  }
  const scheme = ph[SCHEME];
  if (scheme === "notary.x509.signingAuthority") {
    return stop("unverified", NOTATION_CHECKS.envelope, "unsupported scheme notary.x509.signingAuthority: only notary.x509 signatures (with an optional RFC 3161 timestamp) can be verified");
  }
  if (scheme !== "notary.x509") return stop("invalid", NOTATION_CHECKS.envelope, `unknown signing scheme ${JSON.stringify(scheme)}`);
  const signingTimeRaw = ph[SIGNING_TIME];
  if (!signingTimeRaw) return stop("invalid", NOTATION_CHECKS.envelope, `${SIGNING_TIME} is required for notary.x509`);
  const signingTime = new Date(signingTimeRaw);
  time = { kind: "claimed", at: signingTime.toISOString(), by: "signer's io.cncf.notary.signingTime" };
  const expiry = ph[EXPIRY] ? new Date(ph[EXPIRY]) : null;

  if (header.x5c.length > MAX_CHAIN) return stop("invalid", NOTATION_CHECKS.envelope, `x5c chain of ${header.x5c.length} certificates exceeds the limit of ${MAX_CHAIN}`);
  const certs: ParsedCertificate[] = [];
  try {
    for (const c of header.x5c) certs.push(parseCertificate(Buffer.from(c, "base64")));
  } catch (e) {
    return stop("invalid", NOTATION_CHECKS.envelope, `x5c: ${(e as Error).message}`);
  }
  const leaf = certs[0]!;
  signer = { kind: "certificate", leaf: leaf.summary, chain: certs.map((c) => c.summary) };

  let payloadJson: unknown;
  try {
    payloadJson = decodeJson(payloadB64);
  } catch {
    return stop("invalid", NOTATION_CHECKS.envelope, "the payload is not base64url JSON");
  }
  const payload = payloadSchema.safeParse(payloadJson);
  if (!payload.success) return stop("invalid", NOTATION_CHECKS.envelope, `not a Notary Project payload (${issues(payload.error)})`);
  checks.push({ check: NOTATION_CHECKS.envelope, passed: true, detail: `JWS ${alg}, notary.x509${header["io.cncf.notary.signingAgent"] ? `, by ${header["io.cncf.notary.signingAgent"]}` : ""}` });

  // 3. The payload names this image.
  const target = payload.data.targetArtifact;
  if (target.digest !== opts.subjectDigest) return stop("invalid", CHECKS.namesDigest, `the payload names another digest: ${target.digest}, not ${opts.subjectDigest}`);
  checks.push({ check: CHECKS.namesDigest, passed: true, detail: `${target.digest} (${target.mediaType}, ${target.size} bytes)` });

  // 4. The JWS signature, with the leaf's key, over ASCII(protected "." payload).
  const sig = Buffer.from(signatureB64, "base64url");
  const keyProblem = algKeyMismatch(alg, leaf.publicKey);
  if (keyProblem) return stop("invalid", CHECKS.signature, keyProblem);
  if (!verifyJws(alg, leaf.publicKey, Buffer.from(`${protectedB64}.${payloadB64}`, "ascii"), sig)) {
    return stop("invalid", CHECKS.signature, `the ${alg} signature does not verify with the key of ${leaf.subject}`);
  }
  checks.push({ check: CHECKS.signature, passed: true, detail: `${alg} signature by ${leaf.subject}` });

  // 5. The RFC 3161 timestamp covers the raw signature bytes; only a trusted TSA makes its time trusted.
  let trustedAt: Date | null = null;
  const tokenB64 = header["io.cncf.notary.timestampSignature"];
  if (tokenB64 === undefined) {
    checks.push({ check: NOTATION_CHECKS.timestamp, passed: null, detail: "no timestamp token: the signing time is only the signer's claim" });
  } else {
    const ts = verifyTimestampToken({ token: Buffer.from(tokenB64, "base64"), signedData: sig, tsaRoots: opts.trust.tsaRoots });
    if (ts.ok) {
      trustedAt = ts.genTime;
      time = { kind: "trusted", at: ts.genTime.toISOString(), by: `TSA ${ts.tsa.subject} (${ts.anchorName})` };
      checks.push({ check: NOTATION_CHECKS.timestamp, passed: true, detail: `timestamped ${ts.genTime.toISOString()} by ${ts.tsa.subject}, trusted through "${ts.anchorName}"` });
    } else if (ts.failed === "chain") {
      // The token is intact and covers this signature, but nothing trusted vouches for its TSA: its time stays a claim.
      checks.push({ check: NOTATION_CHECKS.timestamp, passed: true, detail: `covers the signature (${ts.genTime?.toISOString()}), but the time is not trusted: ${ts.reason}` });
    } else {
      // A token that is altered or covers other bytes is evidence of tampering with the envelope.
      return stop("invalid", NOTATION_CHECKS.timestamp, ts.reason);
    }
  }

  // 6. The chain, at the trusted time. Without one, it is checked now: the signer's own signingTime is not evidence,
  // and checking at it would let a stolen, expired certificate sign with any date (Notary Project: "the range is now").
  const at = trustedAt ?? now;
  const atLabel = trustedAt ? `the trusted time ${at.toISOString()}` : `${at.toISOString()} (now: no trusted timestamp)`;
  const chain = verifyChain({ leaf, intermediates: certs.slice(1), anchors: opts.trust.certificateRoots, at, leafEku: EKU.codeSigning });
  if (!chain.ok) {
    let detail = opts.trust.certificateRoots.length === 0 && chain.code === "untrusted" ? `${chain.reason}: no certificate roots are configured` : chain.reason;
    if (!trustedAt && (chain.code === "expired" || chain.code === "not-yet-valid")) detail += "; no trusted timestamp was available, so the chain was checked now";
    return stop(chain.code === "malformed" ? "invalid" : "unverified", CHECKS.chain, detail);
  }
  if (leaf.keyUsage && !leaf.keyUsage.digitalSignature) return stop("unverified", CHECKS.chain, `${leaf.subject} is not allowed to sign: its keyUsage lacks digitalSignature`);
  checks.push({ check: CHECKS.chain, passed: true, detail: `${chain.path.map((c) => c.subject).join(" → ")}, trusted through "${chain.anchorName}", valid at ${atLabel}` });

  // 7. The signer's "best by" date.
  if (expiry && now > expiry) return stop("unverified", CHECKS.expiry, `the signature expired at ${expiry.toISOString()}`);
  checks.push({ check: CHECKS.expiry, passed: true, detail: expiry ? `valid until ${expiry.toISOString()}` : "the signature sets no expiry" });

  return {
    format: "notation",
    verdict: "verified",
    detail: `verified: signed by ${leaf.subject}, trusted through "${chain.anchorName}"`,
    checks: complete(checks, NOTATION_CHECK_ORDER),
    signer,
    time,
    trustedBy: chain.anchorName,
  };
}

/** The spec fixes the algorithm by the key: PS* needs RSA (>= 2048 bits), ES256/384/512 need P-256/P-384/P-521. */
function algKeyMismatch(alg: Alg, key: KeyObject): string | null {
  const a = ALGS[alg];
  const d = key.asymmetricKeyDetails ?? {};
  if (a.kind === "rsa-pss") {
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") return `alg ${alg} needs an RSA key, the certificate has ${key.asymmetricKeyType}`;
    if ((d.modulusLength ?? 0) < 2048) return `RSA key of ${d.modulusLength} bits is too short (2048 at least)`;
    return null;
  }
  if (key.asymmetricKeyType !== "ec" || d.namedCurve !== a.curve) return `alg ${alg} needs an EC ${a.curve} key, the certificate has ${key.asymmetricKeyType}${d.namedCurve ? ` ${d.namedCurve}` : ""}`;
  return null;
}

function verifyJws(alg: Alg, key: KeyObject, data: Buffer, sig: Buffer): boolean {
  const a = ALGS[alg];
  try {
    if (a.kind === "rsa-pss") return cryptoVerify(a.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: a.saltLength }, sig);
    // JWS ECDSA signatures are r || s (IEEE P1363), not DER.
    return cryptoVerify(a.hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
  } catch {
    return false;
  }
}

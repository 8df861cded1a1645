import { constants, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { z } from "zod";
import { sha256Digest } from "../../oci/digest";
import { verifyTimestampToken } from "../trust/rfc3161";
import { completeChecks, fail, pass, runSteps, skip, type StepResult, type VerifierStep } from "../steps";
import { CHECKS, type SignatureTime, type SignatureVerification, type SignerIdentity, type TrustMaterial } from "../verification";
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

const rfc3339 = z
  .string()
  .refine((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)), "not an RFC 3339 time");
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

export interface VerifyNotationOptions {
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
}

type ProtectedHeader = z.infer<typeof protectedSchema> & Record<string, unknown>;

/** The verification's state, filled in by the steps in order (a later step only reads what an earlier one set). */
interface NotationState {
  opts: VerifyNotationOptions;
  signer: SignerIdentity | null;
  time: SignatureTime | null;
  env: z.infer<typeof envelopeSchema>;
  alg: Alg;
  expiry: Date | null;
  certs: ParsedCertificate[];
  leaf: ParsedCertificate;
  payload: z.infer<typeof payloadSchema>;
  sig: Buffer;
  trustedAt: Date | null;
  anchorName: string | null;
}

/** 1. The envelope bytes are the layer the manifest names. */
const payloadDigestStep: VerifierStep<NotationState> = {
  name: "payload digest",
  run({ opts }) {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
    const { envelope } = opts;
    if (envelope.byteLength > maxBytes)
      return fail("invalid", CHECKS.payloadDigest, `signature envelope of ${envelope.byteLength} bytes is over the limit of ${maxBytes}, not read`);
    if (opts.blobDigest === undefined) return skip(CHECKS.payloadDigest, "not checked here: the caller verified the envelope blob against its descriptor");
    const actual = sha256Digest(envelope);
    if (actual !== opts.blobDigest)
      return fail(
        "invalid",
        CHECKS.payloadDigest,
        `the envelope's bytes don't match its layer digest: descriptor says ${opts.blobDigest}, bytes hash to ${actual}`,
      );
    return pass(CHECKS.payloadDigest, actual);
  },
};

/** 2. Envelope format: a flattened JWS, its protected header, the x5c chain and the payload. */
const envelopeStep: VerifierStep<NotationState> = {
  name: "envelope",
  run(s) {
    const problem = readEnvelope(s) ?? readProtectedHeader(s) ?? readChain(s) ?? readPayload(s);
    if (problem) return problem;
    const agent = s.env.header["io.cncf.notary.signingAgent"];
    return pass(NOTATION_CHECKS.envelope, `JWS ${s.alg}, notary.x509${agent ? `, by ${agent}` : ""}`);
  },
};

function readEnvelope(s: NotationState): StepResult | null {
  const mediaType = s.opts.mediaType.split(";")[0]?.trim().toLowerCase();
  if (mediaType === NOTATION_COSE)
    return fail(
      "unverified",
      NOTATION_CHECKS.envelope,
      "COSE envelopes (application/cose) are not supported yet; only JWS (application/jose+json) signatures can be verified",
    );
  if (mediaType !== NOTATION_JWS) return fail("invalid", NOTATION_CHECKS.envelope, `unknown Notation envelope media type ${JSON.stringify(s.opts.mediaType)}`);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(s.opts.envelope).toString("utf8"));
  } catch {
    return fail("invalid", NOTATION_CHECKS.envelope, "the envelope is not JSON");
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) return fail("invalid", NOTATION_CHECKS.envelope, `not a flattened JWS envelope (${issues(env.error)})`);
  s.env = env.data;
  return null;
}

function readProtectedHeader(s: NotationState): StepResult | null {
  const bad = (detail: string) => fail("invalid", NOTATION_CHECKS.envelope, detail);
  let protectedJson: unknown;
  try {
    protectedJson = decodeJson(s.env.protected);
  } catch {
    return bad("the protected header is not base64url JSON");
  }
  const prot = protectedSchema.safeParse(protectedJson);
  if (!prot.success) return bad(`bad protected header (${issues(prot.error)})`);
  const ph = prot.data as ProtectedHeader;
  if (!(ph.alg in ALGS)) return bad(`unsupported alg ${JSON.stringify(ph.alg)} (PS256, PS384, PS512, ES256, ES384 or ES512 expected)`);
  s.alg = ph.alg as Alg;
  const critProblem = checkCrit(ph);
  if (critProblem) return critProblem;
  const scheme = ph[SCHEME];
  if (scheme === "notary.x509.signingAuthority") {
    return fail(
      "unverified",
      NOTATION_CHECKS.envelope,
      "unsupported scheme notary.x509.signingAuthority: only notary.x509 signatures (with an optional RFC 3161 timestamp) can be verified",
    );
  }
  if (scheme !== "notary.x509") return bad(`unknown signing scheme ${JSON.stringify(scheme)}`);
  const signingTimeRaw = ph[SIGNING_TIME];
  if (!signingTimeRaw) return bad(`${SIGNING_TIME} is required for notary.x509`);
  s.time = { kind: "claimed", at: new Date(signingTimeRaw).toISOString(), by: "signer's io.cncf.notary.signingTime" };
  s.expiry = ph[EXPIRY] ? new Date(ph[EXPIRY]) : null;
  return null;
}

/** Every critical header present is listed in crit, and crit lists only headers this verifier implements. */
function checkCrit(ph: ProtectedHeader): StepResult | null {
  const crit = ph.crit;
  for (const h of CRITICAL_HEADERS) {
    if (h in ph && !crit.includes(h)) return fail("invalid", NOTATION_CHECKS.envelope, `${h} is present but not listed in crit`);
  }
  for (const h of crit) {
    if (!(h in ph)) return fail("invalid", NOTATION_CHECKS.envelope, `crit lists ${h}, which is not in the protected header`);
    // A critical header this verifier does not implement must fail verification (RFC 7515 4.1.11).
    if (h === PLUGIN || h === PLUGIN_MIN_VERSION)
      return fail("unverified", NOTATION_CHECKS.envelope, `the signature requires verification plugin ${JSON.stringify(ph[PLUGIN])}, which is not supported`);
    if (!(CRITICAL_HEADERS as readonly string[]).includes(h) && h !== SIGNING_TIME)
      return fail("invalid", NOTATION_CHECKS.envelope, `crit lists ${h}, which this verifier does not understand`);
  }
  return null;
}

function readChain(s: NotationState): StepResult | null {
  const { x5c } = s.env.header;
  if (x5c.length > MAX_CHAIN) return fail("invalid", NOTATION_CHECKS.envelope, `x5c chain of ${x5c.length} certificates exceeds the limit of ${MAX_CHAIN}`);
  s.certs = [];
  try {
    for (const c of x5c) s.certs.push(parseCertificate(Buffer.from(c, "base64")));
  } catch (e) {
    return fail("invalid", NOTATION_CHECKS.envelope, `x5c: ${(e as Error).message}`);
  }
  s.leaf = s.certs[0]!;
  s.signer = { kind: "certificate", leaf: s.leaf.summary, chain: s.certs.map((c) => c.summary) };
  return null;
}

function readPayload(s: NotationState): StepResult | null {
  let payloadJson: unknown;
  try {
    payloadJson = decodeJson(s.env.payload);
  } catch {
    return fail("invalid", NOTATION_CHECKS.envelope, "the payload is not base64url JSON");
  }
  const payload = payloadSchema.safeParse(payloadJson);
  if (!payload.success) return fail("invalid", NOTATION_CHECKS.envelope, `not a Notary Project payload (${issues(payload.error)})`);
  s.payload = payload.data;
  return null;
}

/** 3. The payload names this image. */
const namesDigestStep: VerifierStep<NotationState> = {
  name: "names the digest",
  run({ payload, opts }) {
    const target = payload.targetArtifact;
    if (target.digest !== opts.subjectDigest)
      return fail("invalid", CHECKS.namesDigest, `the payload names another digest: ${target.digest}, not ${opts.subjectDigest}`);
    return pass(CHECKS.namesDigest, `${target.digest} (${target.mediaType}, ${target.size} bytes)`);
  },
};

/** 4. The JWS signature, with the leaf's key, over ASCII(protected "." payload). */
const signatureStep: VerifierStep<NotationState> = {
  name: "signature",
  run(s) {
    const { alg, leaf, env } = s;
    s.sig = Buffer.from(env.signature, "base64url");
    const keyProblem = algKeyMismatch(alg, leaf.publicKey);
    if (keyProblem) return fail("invalid", CHECKS.signature, keyProblem);
    if (!verifyJws(alg, leaf.publicKey, Buffer.from(`${env.protected}.${env.payload}`, "ascii"), s.sig)) {
      return fail("invalid", CHECKS.signature, `the ${alg} signature does not verify with the key of ${leaf.subject}`);
    }
    return pass(CHECKS.signature, `${alg} signature by ${leaf.subject}`);
  },
};

/** 5. The RFC 3161 timestamp covers the raw signature bytes; only a trusted TSA makes its time trusted. */
const timestampStep: VerifierStep<NotationState> = {
  name: "timestamp",
  run(s) {
    s.trustedAt = null;
    const tokenB64 = s.env.header["io.cncf.notary.timestampSignature"];
    if (tokenB64 === undefined) return skip(NOTATION_CHECKS.timestamp, "no timestamp token: the signing time is only the signer's claim");
    const ts = verifyTimestampToken({ token: Buffer.from(tokenB64, "base64"), signedData: s.sig, tsaRoots: s.opts.trust.tsaRoots });
    if (ts.ok) {
      s.trustedAt = ts.genTime;
      s.time = { kind: "trusted", at: ts.genTime.toISOString(), by: `TSA ${ts.tsa.subject} (${ts.anchorName})` };
      return pass(NOTATION_CHECKS.timestamp, `timestamped ${ts.genTime.toISOString()} by ${ts.tsa.subject}, trusted through "${ts.anchorName}"`);
    }
    // The token is intact and covers this signature, but nothing trusted vouches for its TSA: its time stays a claim.
    if (ts.failed === "chain")
      return pass(NOTATION_CHECKS.timestamp, `covers the signature (${ts.genTime?.toISOString()}), but the time is not trusted: ${ts.reason}`);
    // A token that is altered or covers other bytes is evidence of tampering with the envelope.
    return fail("invalid", NOTATION_CHECKS.timestamp, ts.reason);
  },
};

/**
 * 6. The chain, at the trusted time. Without one, it is checked now: the signer's own signingTime is not evidence,
 * and checking at it would let a stolen, expired certificate sign with any date (Notary Project: "the range is now").
 */
const chainStep: VerifierStep<NotationState> = {
  name: "certificate chain",
  run(s) {
    const { trustedAt, leaf, opts } = s;
    const at = trustedAt ?? opts.now;
    const atLabel = trustedAt ? `the trusted time ${at.toISOString()}` : `${at.toISOString()} (now: no trusted timestamp)`;
    const chain = verifyChain({ leaf, intermediates: s.certs.slice(1), anchors: opts.trust.certificateRoots, at, leafEku: EKU.codeSigning });
    if (!chain.ok) {
      let detail =
        opts.trust.certificateRoots.length === 0 && chain.code === "untrusted" ? `${chain.reason}: no certificate roots are configured` : chain.reason;
      if (!trustedAt && (chain.code === "expired" || chain.code === "not-yet-valid"))
        detail += "; no trusted timestamp was available, so the chain was checked now";
      return fail(chain.code === "malformed" ? "invalid" : "unverified", CHECKS.chain, detail);
    }
    if (leaf.keyUsage && !leaf.keyUsage.digitalSignature)
      return fail("unverified", CHECKS.chain, `${leaf.subject} is not allowed to sign: its keyUsage lacks digitalSignature`);
    s.anchorName = chain.anchorName;
    return pass(CHECKS.chain, `${chain.path.map((c) => c.subject).join(" → ")}, trusted through "${chain.anchorName}", valid at ${atLabel}`);
  },
};

/** 7. The signer's "best by" date. */
const expiryStep: VerifierStep<NotationState> = {
  name: "expiry",
  run({ expiry, opts }) {
    if (expiry && opts.now > expiry) return fail("unverified", CHECKS.expiry, `the signature expired at ${expiry.toISOString()}`);
    return pass(CHECKS.expiry, expiry ? `valid until ${expiry.toISOString()}` : "the signature sets no expiry");
  },
};

export const NOTATION_STEPS: readonly VerifierStep<NotationState>[] = [
  payloadDigestStep,
  envelopeStep,
  namesDigestStep,
  signatureStep,
  timestampStep,
  chainStep,
  expiryStep,
];

/**
 * Verifies one Notation signature envelope attached to `subjectDigest`. Ordered checks, stopping at the first failure:
 * envelope digest, envelope format, names the digest, JWS signature with the x5c leaf key, timestamp token over the
 * signature, x5c chain to a trusted root (at the timestamp's time when a trusted TSA vouches for it, else now), expiry.
 * Never throws.
 */
export function verifyNotationSignature(opts: VerifyNotationOptions): SignatureVerification {
  // The remaining fields are set by the steps before any later step reads them.
  const s = { opts, signer: null, time: null, expiry: null, trustedAt: null, anchorName: null } as unknown as NotationState;
  const r = runSteps(NOTATION_STEPS, s);
  const base = { format: "notation" as const, checks: completeChecks(r.checks, NOTATION_CHECK_ORDER), signer: s.signer, time: s.time };
  if (r.verdict !== "verified") return { ...base, verdict: r.verdict, detail: r.detail, trustedBy: null };
  return { ...base, verdict: "verified", detail: `verified: signed by ${s.leaf.subject}, trusted through "${s.anchorName}"`, trustedBy: s.anchorName };
}

/** The spec fixes the algorithm by the key: PS* needs RSA (>= 2048 bits), ES256/384/512 need P-256/P-384/P-521. */
function algKeyMismatch(alg: Alg, key: KeyObject): string | null {
  const a = ALGS[alg];
  const d = key.asymmetricKeyDetails ?? {};
  if (a.kind === "rsa-pss") {
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss")
      return `alg ${alg} needs an RSA key, the certificate has ${key.asymmetricKeyType}`;
    if ((d.modulusLength ?? 0) < 2048) return `RSA key of ${d.modulusLength} bits is too short (2048 at least)`;
    return null;
  }
  if (key.asymmetricKeyType !== "ec" || d.namedCurve !== a.curve)
    return `alg ${alg} needs an EC ${a.curve} key, the certificate has ${key.asymmetricKeyType}${d.namedCurve ? ` ${d.namedCurve}` : ""}`;
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

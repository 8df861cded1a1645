import { createHash, verify as cryptoVerify, type KeyObject } from "node:crypto";
import canonicalize from "canonicalize";
import { z } from "zod";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { verifyCosignLayer, type TrustedKey } from "./cosign";
import { parsePublicKey, verifyRaw, type PublicKeyInfo } from "../keys/software";
import { verifyTimestampToken } from "../trust/rfc3161";
import { COSIGN_SIGNATURE_TYPE, parseSimpleSigningPayload, SIGNATURE_ANNOTATION } from "./simple-signing";
import { completeChecks, fail, pass, runSteps, skip, type VerifierStep } from "../steps";
import {
  CHECKS,
  failAt,
  type CheckResult,
  type LogKey,
  type SignatureTime,
  type SignatureVerification,
  type SignerIdentity,
  type TrustMaterial,
} from "../verification";
import { countPemCertificates, EKU, parseCertificate, parseCertificates, verifyChain, type ParsedCertificate } from "../trust/x509";

/**
 * cosign `.sig` layers signed with a certificate (Fulcio keyless, or a user certificate): the leaf and chain ride in
 * layer annotations, and the signing time is vouched for by a Rekor SignedEntryTimestamp or an RFC 3161 token.
 * Fulcio certificates live 10 minutes, so the chain is only meaningful at a trusted signing time.
 * Identity (which SAN may sign which repository) and revocation are judged by lib/signing/trust/judgement.ts, which appends
 * CHECKS.identity and CHECKS.revocation; they are left out here so they are never reported twice.
 */

export const CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate";
export const CHAIN_ANNOTATION = "dev.sigstore.cosign/chain";
export const BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle";
export const RFC3161_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp";

export const COSIGN_CERT_CHECKS = {
  time: "transparency log or timestamp vouches for the signing time",
} as const;

export const COSIGN_CERT_CHECK_ORDER: readonly string[] = [
  CHECKS.payloadDigest,
  CHECKS.namesDigest,
  CHECKS.signature,
  COSIGN_CERT_CHECKS.time,
  CHECKS.chain,
  CHECKS.expiry,
];
const KEY_CHECK_ORDER: readonly string[] = [CHECKS.payloadDigest, CHECKS.namesDigest, CHECKS.signature];

// A simple-signing payload is ~250 bytes; a signature layer is never anywhere near this.
export const MAX_LAYER_BYTES = 1024 * 1024;
export const MAX_CERTIFICATE_ANNOTATION_BYTES = 64 * 1024;
const MAX_CHAIN_ANNOTATION_BYTES = 256 * 1024;
const MAX_BUNDLE_BYTES = 256 * 1024;
export const MAX_CHAIN_CERTIFICATES = 10;

export interface CosignLayerOptions {
  layer: Descriptor;
  /** The blob bytes, or null when it was not fetched (too large, or unavailable). */
  blob: Uint8Array | null;
  /** The image manifest digest the signature is for. */
  imageDigest: string;
  trust: TrustMaterial;
  now: Date;
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

/** Routes a cosign `.sig` layer: certificate-based when it carries a certificate annotation, else key-based. */
export function verifyCosignSignatureLayer(opts: CosignLayerOptions): SignatureVerification {
  if (opts.layer.size > MAX_LAYER_BYTES || (opts.blob && opts.blob.byteLength > MAX_LAYER_BYTES)) {
    const checks: CheckResult[] = [];
    const r = failAt(checks, "invalid", CHECKS.payloadDigest, "signature layer over 1 MiB, not read");
    return { format: "cosign", ...r, checks: completeChecks(r.checks, KEY_CHECK_ORDER), signer: null, time: null, trustedBy: null };
  }
  if (opts.layer.annotations?.[CERTIFICATE_ANNOTATION] !== undefined) return verifyCosignCertificateLayer(opts);
  return verifyCosignKeyLayer(opts);
}

const LEGACY_CHECK_NAMES: Record<string, string> = { "payload matches layer digest": CHECKS.payloadDigest };

/** The key-based verifier (lib/signing/formats/cosign.ts) adapted to the shared SignatureVerification shape. */
function verifyCosignKeyLayer(opts: CosignLayerOptions): SignatureVerification {
  const trustedKeys: TrustedKey[] = [];
  const algorithms = new Map<string, string>();
  for (const k of opts.trust.keys) {
    let info: PublicKeyInfo;
    try {
      info = parsePublicKey(k.key.export({ type: "spki", format: "pem" }).toString());
    } catch {
      continue; // a key type cosign cannot sign with can verify nothing
    }
    trustedKeys.push({ name: k.name, fingerprint: k.fingerprint, key: info });
    algorithms.set(k.fingerprint, k.algorithm);
  }
  const r = verifyCosignLayer({ layer: opts.layer, blob: opts.blob, imageDigest: opts.imageDigest, trustedKeys });
  const checks: CheckResult[] = r.checks.map((c) => ({ ...c, check: LEGACY_CHECK_NAMES[c.check] ?? c.check }));
  const failedCheck = checks.find((c) => c.passed === false);
  let detail = r.detail;
  if (r.verdict !== "verified" && failedCheck && !detail.startsWith("not verified")) {
    detail = `${r.verdict === "invalid" ? "invalid" : "not verified"}: ${failedCheck.check} failed: ${failedCheck.detail}`;
  }
  return {
    format: "cosign",
    verdict: r.verdict,
    detail,
    checks: completeChecks(checks, KEY_CHECK_ORDER),
    signer:
      r.verdict === "verified" && r.key ? { kind: "key", fingerprint: r.key.fingerprint, algorithm: algorithms.get(r.key.fingerprint) ?? "unknown" } : null,
    time: r.verdict === "verified" ? keyLayerTime(opts) : null,
    trustedBy: r.verdict === "verified" && r.key ? r.key.name : null,
  };
}

/**
 * A key-signed layer's time from its RFC 3161 token (cosign's `dev.sigstore.cosign/rfc3161timestamp`, over the raw
 * signature bytes), as Imprimatur attaches one with a configured TSA: trusted when the TSA chains to a trusted TSA
 * root, claimed when it does not. A broken token is no time at all (the key signature itself stands on its own).
 */
function keyLayerTime(opts: CosignLayerOptions): SignatureTime | null {
  const annotation = opts.layer.annotations?.[RFC3161_ANNOTATION];
  const sigB64 = opts.layer.annotations?.[SIGNATURE_ANNOTATION];
  if (!annotation || !sigB64) return null;
  const t = tsaTime(annotation, Buffer.from(sigB64, "base64"), opts.trust);
  if (t.kind === "trusted") return { kind: "trusted", at: t.at.toISOString(), by: t.by };
  if (t.kind === "untrusted") return t.claimed;
  return null;
}

const bundleSchema = z.object({
  SignedEntryTimestamp: z.string().min(1),
  Payload: z.object({
    body: z.string().min(1),
    integratedTime: z.number().int().nonnegative(),
    logIndex: z.number().int().nonnegative(),
    logID: z.string().regex(/^[0-9a-f]{64}$/i, "not a hex SHA-256"),
  }),
});

const rekorBodySchema = z
  .object({
    kind: z.string(),
    spec: z
      .object({
        data: z.object({ hash: z.object({ algorithm: z.string(), value: z.string() }) }).loose(),
        signature: z.object({ content: z.string(), publicKey: z.object({ content: z.string() }).loose() }).loose(),
      })
      .loose(),
  })
  .loose();

type TimeOutcome =
  | { kind: "trusted"; at: Date; by: string; detail: string }
  | { kind: "untrusted"; claimed: SignatureTime; detail: string }
  | { kind: "invalid"; detail: string };

/**
 * Verifies a Rekor bundle annotation: the SignedEntryTimestamp over the canonical JSON of the payload with a trusted
 * log key, and that the logged entry is this signature (otherwise any entry's SET could lend its time to any signature).
 */
function rekorTime(annotation: string, sig: Buffer, blob: Uint8Array, leaf: ParsedCertificate, keys: readonly LogKey[]): TimeOutcome {
  if (utf8Bytes(annotation) > MAX_BUNDLE_BYTES) return { kind: "invalid", detail: `Rekor bundle annotation over ${MAX_BUNDLE_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(annotation);
  } catch {
    return { kind: "invalid", detail: "Rekor bundle annotation is not JSON" };
  }
  const parsed = bundleSchema.safeParse(json);
  if (!parsed.success) return { kind: "invalid", detail: `not a Rekor bundle (${parsed.error.issues.map((i) => i.path.join(".")).join(", ")})` };
  const { SignedEntryTimestamp, Payload } = parsed.data;
  const at = new Date(Payload.integratedTime * 1000);
  const logId = Payload.logID.toLowerCase();
  const key = keys.find((k) => k.logId.toLowerCase() === logId);
  if (!key)
    return {
      kind: "untrusted",
      claimed: { kind: "claimed", at: at.toISOString(), by: `Rekor bundle from log ${logId.slice(0, 12)}…, which is not trusted` },
      detail: `Rekor log ${logId} is not a trusted log`,
    };
  if ((key.validFrom && at < key.validFrom) || (key.validUntil && at > key.validUntil)) {
    return {
      kind: "untrusted",
      claimed: { kind: "claimed", at: at.toISOString(), by: `Rekor log "${key.name}" outside its trusted period` },
      detail: `Rekor log "${key.name}" is not trusted at ${at.toISOString()}`,
    };
  }
  const signed = Buffer.from(
    canonicalize({ body: Payload.body, integratedTime: Payload.integratedTime, logIndex: Payload.logIndex, logID: Payload.logID }) ?? "",
    "utf8",
  );
  if (!verifyLogSignature(key.key, signed, Buffer.from(SignedEntryTimestamp, "base64"))) {
    return { kind: "invalid", detail: `the Rekor SignedEntryTimestamp does not verify with the key of trusted log "${key.name}"` };
  }
  const mismatch = entryMismatch(Payload.body, sig, blob, leaf);
  if (mismatch) return { kind: "invalid", detail: `the Rekor entry is not this signature: ${mismatch}` };
  return {
    kind: "trusted",
    at,
    by: `Rekor log "${key.name}"`,
    detail: `logged at ${at.toISOString()} (index ${Payload.logIndex}) in trusted Rekor log "${key.name}"`,
  };
}

function verifyLogSignature(key: KeyObject, data: Buffer, sig: Buffer): boolean {
  try {
    if (key.asymmetricKeyType === "ec") return cryptoVerify("sha256", data, { key, dsaEncoding: "der" }, sig);
    if (key.asymmetricKeyType === "ed25519") return cryptoVerify(null, data, key, sig);
    if (key.asymmetricKeyType === "rsa") return cryptoVerify("sha256", data, key, sig);
    return false;
  } catch {
    return false;
  }
}

function entryMismatch(bodyB64: string, sig: Buffer, blob: Uint8Array, leaf: ParsedCertificate): string | null {
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(bodyB64, "base64").toString("utf8"));
  } catch {
    return "the entry body is not base64 JSON";
  }
  const parsed = rekorBodySchema.safeParse(body);
  if (!parsed.success) return "the entry body is not a hashedrekord/rekord entry";
  const { kind, spec } = parsed.data;
  if (kind !== "hashedrekord" && kind !== "rekord") return `entry kind ${JSON.stringify(kind)} is not supported for signatures`;
  if (!Buffer.from(spec.signature.content, "base64").equals(sig)) return "it logs another signature";
  const payloadHash = createHash("sha256").update(blob).digest("hex");
  if (spec.data.hash.algorithm !== "sha256" || spec.data.hash.value.toLowerCase() !== payloadHash) return "it logs another payload hash";
  const pem = Buffer.from(spec.signature.publicKey.content, "base64").toString("utf8");
  try {
    if (pem.includes("BEGIN CERTIFICATE")) {
      if (parseCertificate(pem).summary.fingerprint !== leaf.summary.fingerprint) return "it logs another certificate";
    } else if (parsePublicKey(pem).fingerprint !== parsePublicKey(leaf.publicKey.export({ type: "spki", format: "pem" }).toString()).fingerprint) {
      return "it logs another key";
    }
  } catch {
    return "its verification material is unreadable";
  }
  return null;
}

const rfc3161AnnotationSchema = z.object({ SignedRFC3161Timestamp: z.string().min(1) });

function tsaTime(annotation: string, sig: Buffer, trust: TrustMaterial): TimeOutcome {
  let json: unknown;
  try {
    json = JSON.parse(annotation);
  } catch {
    return { kind: "invalid", detail: "RFC 3161 timestamp annotation is not JSON" };
  }
  const parsed = rfc3161AnnotationSchema.safeParse(json);
  if (!parsed.success) return { kind: "invalid", detail: "RFC 3161 timestamp annotation lacks SignedRFC3161Timestamp" };
  // cosign's TSA request imprints the raw (base64-decoded) signature bytes.
  const ts = verifyTimestampToken({ token: Buffer.from(parsed.data.SignedRFC3161Timestamp, "base64"), signedData: sig, tsaRoots: trust.tsaRoots });
  if (ts.ok)
    return {
      kind: "trusted",
      at: ts.genTime,
      by: `TSA ${ts.tsa.subject} (${ts.anchorName})`,
      detail: `timestamped ${ts.genTime.toISOString()} by ${ts.tsa.subject}, trusted through "${ts.anchorName}"`,
    };
  if (ts.failed === "chain" && ts.genTime)
    return {
      kind: "untrusted",
      claimed: { kind: "claimed", at: ts.genTime.toISOString(), by: `TSA ${ts.tsa?.subject ?? "unknown"} (not trusted)` },
      detail: ts.reason,
    };
  return { kind: "invalid", detail: `RFC 3161 timestamp: ${ts.reason}` };
}

/** The verification's state, filled in by the steps in order (a later step only reads what an earlier one set). */
interface CertLayerState {
  opts: CosignLayerOptions;
  annotations: Record<string, string>;
  blob: Uint8Array;
  signer: SignerIdentity | null;
  time: SignatureTime | null;
  leaf: ParsedCertificate;
  sig: Buffer;
  identity: string;
  trusted: { at: Date; by: string } | null;
  anchorName: string | null;
}

/** 1. The payload is the layer's bytes. */
const payloadDigestStep: VerifierStep<CertLayerState> = {
  name: "payload digest",
  run(s) {
    const { layer, blob } = s.opts;
    if (layer.mediaType !== MT.cosignSimpleSigning)
      return fail("invalid", CHECKS.payloadDigest, `layer media type is ${layer.mediaType}, not ${MT.cosignSimpleSigning}`);
    if (layer.size > MAX_LAYER_BYTES || (blob && blob.byteLength > MAX_LAYER_BYTES))
      return fail("invalid", CHECKS.payloadDigest, "signature layer over 1 MiB, not read");
    if (!blob) return fail("invalid", CHECKS.payloadDigest, "the payload blob could not be read from the registry");
    const actual = sha256Digest(blob);
    if (actual !== layer.digest || blob.byteLength !== layer.size) {
      return fail(
        "invalid",
        CHECKS.payloadDigest,
        `the layer's bytes don't match its digest: descriptor says ${layer.digest} (${layer.size} bytes), bytes hash to ${actual} (${blob.byteLength} bytes)`,
      );
    }
    s.blob = blob;
    return pass(CHECKS.payloadDigest, layer.digest);
  },
};

/** 2. The payload is a cosign signature of this image. */
const namesDigestStep: VerifierStep<CertLayerState> = {
  name: "names the digest",
  run({ blob, opts }) {
    const payload = parseSimpleSigningPayload(blob);
    if ("error" in payload) return fail("invalid", CHECKS.namesDigest, payload.error);
    if (payload.critical.type !== COSIGN_SIGNATURE_TYPE)
      return fail("invalid", CHECKS.namesDigest, `critical.type is ${JSON.stringify(payload.critical.type)}, not "${COSIGN_SIGNATURE_TYPE}"`);
    const named = payload.critical.image["docker-manifest-digest"];
    if (named !== opts.imageDigest) return fail("invalid", CHECKS.namesDigest, `the payload names another digest: ${named}, not ${opts.imageDigest}`);
    return pass(CHECKS.namesDigest, `${named} (${payload.critical.identity["docker-reference"]})`);
  },
};

/** 3. The signature, with the certificate's key. */
const signatureStep: VerifierStep<CertLayerState> = {
  name: "signature",
  run(s) {
    const certPem = s.annotations[CERTIFICATE_ANNOTATION] ?? "";
    if (utf8Bytes(certPem) > MAX_CERTIFICATE_ANNOTATION_BYTES)
      return fail("invalid", CHECKS.signature, `certificate annotation over ${MAX_CERTIFICATE_ANNOTATION_BYTES / 1024} KiB, not read`);
    let leafKey: PublicKeyInfo;
    try {
      s.leaf = parseCertificate(certPem);
    } catch (e) {
      return fail("invalid", CHECKS.signature, `the certificate annotation is not a certificate: ${(e as Error).message}`);
    }
    const { leaf } = s;
    s.signer = { kind: "certificate", leaf: leaf.summary, chain: [leaf.summary] };
    try {
      leafKey = parsePublicKey(leaf.publicKey.export({ type: "spki", format: "pem" }).toString());
    } catch (e) {
      return fail("invalid", CHECKS.signature, `the certificate's key cannot sign cosign signatures: ${(e as Error).message}`);
    }
    const sigB64 = s.annotations[SIGNATURE_ANNOTATION];
    if (!sigB64) return fail("invalid", CHECKS.signature, `layer has no ${SIGNATURE_ANNOTATION} annotation`);
    s.sig = Buffer.from(sigB64, "base64");
    if (s.sig.length === 0 || s.sig.toString("base64") !== sigB64.replace(/\s+/g, ""))
      return fail("invalid", CHECKS.signature, "signature annotation is not valid base64");
    if (!verifyRaw(leafKey, s.blob, s.sig))
      return fail("invalid", CHECKS.signature, `the signature does not verify with the key of the certificate ${leaf.subject}`);
    s.identity = leaf.summary.sans[0] ?? leaf.subject;
    return pass(CHECKS.signature, `signed with the key of ${s.identity}${leaf.summary.oidcIssuer ? ` (issuer ${leaf.summary.oidcIssuer})` : ""}`);
  },
};

/** 4. A trusted signing time: a Rekor SET from a trusted log, else an RFC 3161 token from a trusted TSA. */
const timeStep: VerifierStep<CertLayerState> = {
  name: "signing time",
  run(s) {
    const notes: string[] = [];
    const { annotations, sig, blob, leaf } = s;
    const { trust } = s.opts;
    const bundle = annotations[BUNDLE_ANNOTATION];
    const tst = annotations[RFC3161_ANNOTATION];
    s.trusted = null;
    for (const outcome of [
      bundle !== undefined ? () => rekorTime(bundle, sig, blob, leaf, trust.rekorKeys) : null,
      tst !== undefined ? () => tsaTime(tst, sig, trust) : null,
    ]) {
      if (!outcome) continue;
      const o = outcome();
      // A present but forged or mismatched proof is evidence of tampering, not merely a missing time.
      if (o.kind === "invalid") return fail("invalid", COSIGN_CERT_CHECKS.time, o.detail);
      if (o.kind === "trusted") {
        s.trusted = { at: o.at, by: o.by };
        s.time = { kind: "trusted", at: o.at.toISOString(), by: o.by };
        return pass(COSIGN_CERT_CHECKS.time, o.detail);
      }
      s.time ??= o.claimed;
      notes.push(o.detail);
    }
    s.time ??= { kind: "claimed", at: null, by: "no Rekor bundle or RFC 3161 timestamp" };
    const why = notes.length ? notes.join("; ") : "the layer has no Rekor bundle or RFC 3161 timestamp";
    return skip(COSIGN_CERT_CHECKS.time, `no trusted time: ${why}`);
  },
};

/** 5. The chain at the trusted time; without one, now (a 10-minute Fulcio certificate then fails, as it should). */
const chainStep: VerifierStep<CertLayerState> = {
  name: "certificate chain",
  run(s) {
    const { leaf, trusted, annotations } = s;
    const { trust, now } = s.opts;
    const chainPem = annotations[CHAIN_ANNOTATION] ?? "";
    if (utf8Bytes(chainPem) > MAX_CHAIN_ANNOTATION_BYTES)
      return fail("invalid", CHECKS.chain, `chain annotation over ${MAX_CHAIN_ANNOTATION_BYTES / 1024} KiB, not read`);
    const presented = 1 + countPemCertificates(chainPem);
    if (presented > MAX_CHAIN_CERTIFICATES)
      return fail("invalid", CHECKS.chain, `chain of ${presented} certificates exceeds the limit of ${MAX_CHAIN_CERTIFICATES}`);
    let chainCerts: ParsedCertificate[];
    try {
      chainCerts = parseCertificates(chainPem, { max: MAX_CHAIN_CERTIFICATES });
    } catch (e) {
      return fail("invalid", CHECKS.chain, `the chain annotation is unreadable: ${(e as Error).message}`);
    }
    s.signer = { kind: "certificate", leaf: leaf.summary, chain: [leaf, ...chainCerts].map((c) => c.summary) };
    const at = trusted?.at ?? now;
    const chain = verifyChain({
      leaf,
      intermediates: chainCerts,
      anchors: trust.certificateRoots,
      at,
      maxLength: MAX_CHAIN_CERTIFICATES,
      leafEku: EKU.codeSigning,
    });
    if (!chain.ok) {
      let detail = chain.reason;
      if (!trusted && (chain.code === "expired" || chain.code === "not-yet-valid")) {
        detail += "; no trusted time was available (no verified Rekor entry or RFC 3161 timestamp), so the certificate was checked now";
      }
      if (chain.code === "untrusted" && trust.certificateRoots.length === 0) detail += ": no certificate roots are configured";
      return fail(chain.code === "malformed" || chain.code === "too-long" ? "invalid" : "unverified", CHECKS.chain, detail);
    }
    s.anchorName = chain.anchorName;
    const validAt = trusted ? `the trusted time ${at.toISOString()}` : `${at.toISOString()} (now: no trusted time)`;
    return pass(CHECKS.chain, `${chain.path.map((c) => c.subject).join(" → ")}, trusted through "${chain.anchorName}", valid at ${validAt}`);
  },
};

const expiryStep: VerifierStep<CertLayerState> = {
  name: "expiry",
  run: () => skip(CHECKS.expiry, "does not apply: cosign signatures carry no expiry"),
};

export const COSIGN_CERT_STEPS: readonly VerifierStep<CertLayerState>[] = [payloadDigestStep, namesDigestStep, signatureStep, timeStep, chainStep, expiryStep];

/**
 * Verifies a cosign `.sig` layer that carries a signing certificate. Ordered checks, stopping at the first failure:
 * payload digest, payload names the image, signature with the certificate's key, trusted signing time (Rekor SET or
 * RFC 3161), chain to a certificate root at that time (or now, when no time is trusted). Never throws.
 */
export function verifyCosignCertificateLayer(opts: CosignLayerOptions): SignatureVerification {
  // The remaining fields are set by the steps before any later step reads them.
  const s = { opts, annotations: opts.layer.annotations ?? {}, signer: null, time: null, trusted: null, anchorName: null } as unknown as CertLayerState;
  const r = runSteps(COSIGN_CERT_STEPS, s);
  const base = { format: "cosign" as const, checks: completeChecks(r.checks, COSIGN_CERT_CHECK_ORDER), signer: s.signer, time: s.time };
  if (r.verdict !== "verified") return { ...base, verdict: r.verdict, detail: r.detail, trustedBy: null };
  return { ...base, verdict: "verified", detail: `verified: signed by ${s.identity}, trusted through "${s.anchorName}"`, trustedBy: s.anchorName };
}

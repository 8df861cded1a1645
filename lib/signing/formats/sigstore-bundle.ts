import { createHash } from "node:crypto";
import {
  bundleFromJSON,
  ValidationError,
  type Bundle,
  type TLogEntryWithInclusionPromise,
  type TLogEntryWithInclusionProof,
  type TransparencyLogEntry,
} from "@sigstore/bundle";
import { crypto as sigstoreCrypto, X509Certificate } from "@sigstore/core";
import { HashAlgorithm } from "@sigstore/protobuf-specs";
import { toSignedEntity, Verifier, VerificationError, type SignedEntity, type TrustMaterial as SigstoreTrustMaterial } from "@sigstore/verify";
// The package's entry point only exposes Verifier.verify, which throws at the first failure. Its lower-level steps
// are imported one by one so that each check is reported on its own (no "exports" map in @sigstore/verify 3.1.1,
// and these modules are what Verifier itself calls).
import { verifyCertificateChain } from "@sigstore/verify/dist/key/certificate";
import { verifySCTs } from "@sigstore/verify/dist/key/sct";
import { getTSATimestamp } from "@sigstore/verify/dist/timestamp";
import { verifyCheckpoint } from "@sigstore/verify/dist/tlog/checkpoint";
import { verifyTLogBody } from "@sigstore/verify/dist/tlog";
import { verifyMerkleInclusion } from "@sigstore/verify/dist/tlog/merkle";
import { verifyTLogSET } from "@sigstore/verify/dist/tlog/set";
import { findKeyByHint, toSigstoreTrustMaterial } from "../trust/sigstore-root";
import { summarizeCertificate } from "../trust/x509";
import { fail, pass, runSteps, skip, type StepResult, type VerifierStep } from "../steps";
import {
  CHECKS,
  type CertificateSummary,
  type LogKey,
  type SignatureTime,
  type SignatureVerification,
  type Signer,
  type TrustMaterial,
  type Verdict,
} from "../verification";

/** Checks specific to Sigstore bundles, in the order they run (between the shared ones). */
export const SIGSTORE_CHECKS = {
  wellFormed: "bundle is a valid Sigstore bundle",
  tlogBody: "transparency log entry matches the signature",
  set: "signed entry timestamp (SET)",
  checkpoint: "checkpoint is signed by the log",
  inclusionProof: "transparency log inclusion proof",
  tlogThreshold: "transparency log entries",
  tsa: "timestamp token covers the signature",
  timestampThreshold: "trusted timestamps",
  sct: "certificate transparency (SCT)",
  crossCheck: "@sigstore/verify accepts the bundle",
} as const;

export interface SigstoreThresholds {
  /** Transparency log entries that must verify (inclusion proof or SET). */
  tlog: number;
  /** Trusted timestamps required (SET-vouched integrated times plus RFC 3161 tokens). */
  timestamp: number;
  /** Verified SCTs required in a Fulcio certificate. */
  ctlog: number;
}

export interface VerifySigstoreBundleOptions {
  /** The bundle JSON bytes, as fetched (the referrer's layer). */
  bundle: Uint8Array;
  /**
   * The `sha256:<hex>` the bundle must be about: a subject of the DSSE in-toto statement, or the message signature's
   * digest. null: not attached to an image (a release binary's provenance, say), and the check is skipped.
   */
  subjectDigest: string | null;
  /** The layer descriptor's digest; when given, the bundle bytes must hash to it. */
  blobDigest?: string;
  trust: TrustMaterial;
  /** Overrides; unset fields default per bundle kind (see defaultThresholds). */
  thresholds?: Partial<SigstoreThresholds>;
  /**
   * For a message-signature bundle only: the signed bytes. Its signature covers the artifact itself, which the bundle
   * does not carry, so without them the signature cannot be checked.
   */
  artifact?: Uint8Array;
  /** Wall-clock time; only used to refuse timestamps from the future. Certificates are judged at the trusted time. */
  now: Date;
}

/** Upper bound on a bundle: real ones are a few KiB; the chain and tlog entries are the bulk. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
/** Bare keys tried for a key-based bundle whose hint names none of them. */
const MAX_KEYS_TRIED = 32;
/** Tolerated clock skew for "a timestamp in the future". */
const FUTURE_SKEW_MS = 5 * 60 * 1000;

const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
const IN_TOTO_STATEMENT_TYPES = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/**
 * Defaults, as sigstore-go and cosign use them: a Fulcio certificate is short-lived, so it needs a log entry (its
 * trusted time) and an SCT. A bare key is trusted directly: a log entry is required only if the bundle has one
 * (a key-based bundle written for a private registry carries none). Timestamps beyond the log's are opt-in.
 */
export function defaultThresholds(bundle: Bundle): SigstoreThresholds {
  const certificate = bundle.verificationMaterial.content.$case !== "publicKey";
  return { tlog: certificate || bundle.verificationMaterial.tlogEntries.length > 0 ? 1 : 0, timestamp: 0, ctlog: certificate ? 1 : 0 };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function errMessage(e: unknown): string {
  if (e instanceof VerificationError) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
    return `${e.message}${cause}`;
  }
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates (summarised by trust/x509, as for cosign and Notation: one subject spelling for every format)

function presentedCertificates(bundle: Bundle): Buffer[] {
  const vm = bundle.verificationMaterial.content;
  switch (vm.$case) {
    case "x509CertificateChain":
      return vm.x509CertificateChain.certificates.map((c) => Buffer.from(c.rawBytes));
    case "certificate":
      return [Buffer.from(vm.certificate.rawBytes)];
    case "publicKey":
      return [];
    default: {
      const never: never = vm;
      return never;
    }
  }
}

function who(leaf: CertificateSummary): string {
  const id = leaf.sans[0] ?? (leaf.subject || leaf.fingerprint);
  return leaf.oidcIssuer ? `${id} (issuer ${leaf.oidcIssuer})` : id;
}

// ---------------------------------------------------------------------------------------------------------------
// Subject

/** What the bundle says it is about: the in-toto subjects' sha256 digests, or the message digest. */
function namedDigests(bundle: Bundle): { digests: string[]; what: string } | { error: string } {
  const content = bundle.content;
  switch (content.$case) {
    case "dsseEnvelope": {
      const env = content.dsseEnvelope;
      if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) return { error: `the DSSE payload type is ${JSON.stringify(env.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}` };
      let st: unknown;
      try {
        st = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(env.payload));
      } catch {
        return { error: "the DSSE payload is not JSON" };
      }
      if (typeof st !== "object" || st === null || Array.isArray(st)) return { error: "the DSSE payload is not an in-toto statement" };
      const s = st as Record<string, unknown>;
      if (typeof s._type !== "string" || !IN_TOTO_STATEMENT_TYPES.includes(s._type)) return { error: `the statement _type is ${JSON.stringify(s._type)?.slice(0, 80)}, not an in-toto Statement` };
      if (!Array.isArray(s.subject) || s.subject.length === 0) return { error: "the statement has no subject" };
      const digests: string[] = [];
      for (const sub of s.subject.slice(0, 1000)) {
        const d = (sub as { digest?: { sha256?: unknown } } | null)?.digest?.sha256;
        if (typeof d === "string" && /^[a-f0-9]{64}$/.test(d)) digests.push(`sha256:${d}`);
      }
      const pt = typeof s.predicateType === "string" ? s.predicateType : "no predicateType";
      return { digests, what: `in-toto statement (${pt})` };
    }
    case "messageSignature": {
      const md = content.messageSignature.messageDigest;
      if (md.algorithm !== HashAlgorithm.SHA2_256 && md.algorithm !== HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED) {
        return { error: `the message digest is ${HashAlgorithm[md.algorithm] ?? md.algorithm}, not SHA2_256` };
      }
      return { digests: [`sha256:${Buffer.from(md.digest).toString("hex")}`], what: "message signature" };
    }
    default: {
      const never: never = content;
      return never;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The pipeline

/** Maps @sigstore/verify's error codes to the check that failed, for the cross-check's report. */
function checkForCode(e: unknown): { check: string; verdict: Exclude<Verdict, "verified"> } {
  if (!(e instanceof VerificationError)) return { check: SIGSTORE_CHECKS.crossCheck, verdict: "unverified" };
  switch (e.code) {
    case "TLOG_INCLUSION_PROMISE_ERROR":
      return { check: SIGSTORE_CHECKS.set, verdict: "unverified" };
    case "TLOG_INCLUSION_PROOF_ERROR":
    case "TLOG_MISSING_INCLUSION_ERROR":
      return { check: SIGSTORE_CHECKS.inclusionProof, verdict: "unverified" };
    case "TLOG_BODY_ERROR":
      return { check: SIGSTORE_CHECKS.tlogBody, verdict: "invalid" };
    case "TLOG_ERROR":
      return { check: SIGSTORE_CHECKS.tlogThreshold, verdict: "unverified" };
    case "CERTIFICATE_ERROR":
      return { check: /SCT/.test(e.message) ? SIGSTORE_CHECKS.sct : CHECKS.chain, verdict: "unverified" };
    case "PUBLIC_KEY_ERROR":
      return { check: CHECKS.signature, verdict: "unverified" };
    case "SIGNATURE_ERROR":
      return { check: CHECKS.signature, verdict: "invalid" };
    case "TIMESTAMP_ERROR":
      return { check: SIGSTORE_CHECKS.timestampThreshold, verdict: "unverified" };
    case "NOT_IMPLEMENTED_ERROR":
      return { check: SIGSTORE_CHECKS.crossCheck, verdict: "unverified" };
    default: {
      // A code newer than @sigstore/verify 3.1.1: still a refusal, reported as the cross-check's.
      const unknown: never = e.code;
      void unknown;
      return { check: SIGSTORE_CHECKS.crossCheck, verdict: "unverified" };
    }
  }
}

/** The verification's state, filled in by the steps in order (a later step only reads what an earlier one set). */
interface BundleState {
  opts: VerifySigstoreBundleOptions;
  signer: Signer | null;
  time: SignatureTime | null;
  trustedBy: string | null;
  bundle: Bundle;
  entity: SignedEntity;
  /** "DSSE envelope" or "message signature", for the details. */
  content: string;
  thresholds: SigstoreThresholds;
  leaf: X509Certificate | null;
  chosenKey: TrustMaterial["keys"][number] | undefined;
  tm: SigstoreTrustMaterial;
  path: X509Certificate[];
  trustedTimes: { at: Date; by: string }[];
  claimedTime: Date | null;
}

/** 1. The bytes are the ones the referrer's descriptor names. */
const payloadDigestStep: VerifierStep<BundleState> = {
  name: "payload digest",
  run({ opts }) {
    const actual = `sha256:${sha256Hex(opts.bundle)}`;
    if (opts.blobDigest === undefined) return skip(CHECKS.payloadDigest, `no descriptor digest given; the bundle's bytes hash to ${actual}`);
    if (actual !== opts.blobDigest) return fail("invalid", CHECKS.payloadDigest, `the bundle's bytes hash to ${actual}, the descriptor says ${opts.blobDigest}`);
    return pass(CHECKS.payloadDigest, actual);
  },
};

/** 2. Well-formed, per its own media type (v0.1 needs a SET, v0.2+ an inclusion proof, v0.3 a single certificate). */
const wellFormedStep: VerifierStep<BundleState> = {
  name: "well-formed",
  run(s) {
    const bytes = s.opts.bundle;
    if (bytes.byteLength > MAX_BUNDLE_BYTES) return fail("invalid", SIGSTORE_CHECKS.wellFormed, `${bytes.byteLength} bytes, more than ${MAX_BUNDLE_BYTES}`);
    try {
      const json: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      s.bundle = bundleFromJSON(json);
      s.entity = toSignedEntity(s.bundle, s.opts.artifact ? Buffer.from(s.opts.artifact) : undefined);
    } catch (e) {
      const fields = e instanceof ValidationError && e.fields?.length ? ` (bad fields: ${e.fields.join(", ")})` : "";
      return fail("invalid", SIGSTORE_CHECKS.wellFormed, `${e instanceof SyntaxError ? "not JSON" : errMessage(e)}${fields}`);
    }
    const { bundle } = s;
    const kind = bundle.verificationMaterial.content.$case === "publicKey" ? "key" : "certificate";
    s.content = bundle.content.$case === "dsseEnvelope" ? "DSSE envelope" : "message signature";
    s.thresholds = { ...defaultThresholds(bundle), ...s.opts.thresholds };
    const n = bundle.verificationMaterial.tlogEntries.length;
    return pass(SIGSTORE_CHECKS.wellFormed, `${bundle.mediaType}: ${s.content}, ${kind === "key" ? "public key" : "certificate"}, ${n} tlog entr${n === 1 ? "y" : "ies"}`);
  },
};

/** 3. It is about this digest. */
const namesDigestStep: VerifierStep<BundleState> = {
  name: "names the digest",
  run({ bundle, opts }) {
    const named = namedDigests(bundle);
    if ("error" in named) return fail("invalid", CHECKS.namesDigest, named.error);
    const list = named.digests.join(", ") || "no sha256 digest";
    let r: StepResult;
    if (opts.subjectDigest === null) r = skip(CHECKS.namesDigest, `not attached to an image: the ${named.what} names ${list}`);
    else if (!named.digests.includes(opts.subjectDigest)) return fail("invalid", CHECKS.namesDigest, `the ${named.what} names ${list}, not ${opts.subjectDigest}`);
    else r = pass(CHECKS.namesDigest, `the ${named.what} names ${opts.subjectDigest}`);
    if (bundle.content.$case === "messageSignature" && opts.artifact && `sha256:${sha256Hex(opts.artifact)}` !== named.digests[0]) {
      return [r, fail("invalid", CHECKS.namesDigest, `the artifact given hashes to sha256:${sha256Hex(opts.artifact)}, the message digest is ${named.digests[0]}`)];
    }
    return r;
  },
};

/** 4. The signature, by the certificate's key or by a trusted bare key. */
const signatureStep: VerifierStep<BundleState> = {
  name: "signature",
  run(s) {
    const { bundle, entity, opts } = s;
    s.leaf = null;
    if (bundle.content.$case === "messageSignature" && !opts.artifact) {
      return fail("unverified", CHECKS.signature, "a message signature covers the signed artifact itself, which the bundle does not carry; the caller passed none");
    }
    const r = entity.key.$case === "certificate" ? certificateSignature(s, entity.key.certificate) : keySignature(s, entity.key.hint);
    if (r.passed === false) return r;
    const found = s.chosenKey;
    s.tm = toSigstoreTrustMaterial(opts.trust, found ? { keyFor: () => found } : {});
    return r;
  },
};

function certificateSignature(s: BundleState, leaf: X509Certificate): StepResult {
  s.leaf = leaf;
  try {
    const [first, ...rest] = presentedCertificates(s.bundle).map((der) => summarizeCertificate(der));
    if (first) s.signer = { kind: "certificate", leaf: first, chain: rest };
  } catch (e) {
    return fail("invalid", SIGSTORE_CHECKS.wellFormed, `unreadable certificate: ${errMessage(e)}`);
  }
  let ok = false;
  try {
    ok = s.entity.signature.verifySignature(sigstoreCrypto.createPublicKey(leaf.publicKey));
  } catch {
    ok = false;
  }
  const whom = s.signer?.kind === "certificate" ? who(s.signer.leaf) : "the certificate";
  if (!ok) return fail("invalid", CHECKS.signature, `the ${s.content} signature does not verify with the certificate's key (${whom})`);
  return pass(CHECKS.signature, `verified with the key of the certificate for ${whom}`);
}

function keySignature(s: BundleState, hint: string): StepResult {
  const verifies = (k: TrustMaterial["keys"][number]) => {
    try {
      return s.entity.signature.verifySignature(k.key);
    } catch {
      return false;
    }
  };
  const hinted = findKeyByHint(s.opts.trust, hint);
  if (hinted) {
    s.signer = { kind: "key", fingerprint: hinted.fingerprint, algorithm: hinted.algorithm };
    // The bundle names this trusted key: a signature it does not verify is tampered, not merely unknown.
    if (!verifies(hinted)) return fail("invalid", CHECKS.signature, `the ${s.content} signature does not verify with trusted key ${hinted.name} (${hinted.fingerprint}), which the bundle's hint names`);
    s.chosenKey = hinted;
  } else {
    s.chosenKey = s.opts.trust.keys.slice(0, MAX_KEYS_TRIED).find(verifies);
    if (!s.chosenKey) {
      return fail("unverified", CHECKS.signature, `no trusted key verifies it (hint ${JSON.stringify(hint.slice(0, 80))}); an unknown key and a tampered signature look the same`);
    }
    s.signer = { kind: "key", fingerprint: s.chosenKey.fingerprint, algorithm: s.chosenKey.algorithm };
  }
  return pass(CHECKS.signature, `verified by trusted key ${s.chosenKey.name} (${s.chosenKey.fingerprint})`);
}

/** 5. Transparency log entries: each must match the signature and be proven included by a trusted log. */
const tlogStep: VerifierStep<BundleState> = {
  name: "transparency log",
  run(s) {
    const out: StepResult[] = [];
    let verifiedEntries = 0;
    // bundleFromJSON has checked that every entry has logId and kindVersion.
    const entries = s.bundle.verificationMaterial.tlogEntries.slice(0, 16) as TransparencyLogEntry[];
    if (s.bundle.verificationMaterial.tlogEntries.length > entries.length) return fail("invalid", SIGSTORE_CHECKS.wellFormed, `more than ${entries.length} tlog entries`);
    for (const [i, entry] of entries.entries()) {
      const label = (c: string) => (entries.length > 1 ? `${c} (entry ${i + 1} of ${entries.length})` : c);
      const results = tlogEntry(s, entry, label);
      out.push(...results);
      if (results.some((r) => r.passed === false)) return out;
      verifiedEntries++;
    }
    const { tlog } = s.thresholds;
    const tlogDetail = `${verifiedEntries} verified, ${tlog} required`;
    if (verifiedEntries < tlog) return [...out, fail("unverified", SIGSTORE_CHECKS.tlogThreshold, tlogDetail)];
    if (tlog === 0 && verifiedEntries === 0) return [...out, skip(SIGSTORE_CHECKS.tlogThreshold, "none in the bundle, none required")];
    return [...out, pass(SIGSTORE_CHECKS.tlogThreshold, tlogDetail)];
  },
};

/** One log entry: its body matches the signature, then its SET and its inclusion proof (whichever it carries). */
function tlogEntry(s: BundleState, entry: TransparencyLogEntry, label: (c: string) => string): StepResult[] {
  const where = `log ${entry.logId.keyId.toString("hex").slice(0, 12)}…, index ${entry.logIndex}`;
  const integrated = entry.integratedTime && entry.integratedTime !== "0" ? new Date(Number(entry.integratedTime) * 1000) : null;
  if (integrated && !s.claimedTime) s.claimedTime = integrated;
  try {
    verifyTLogBody(entry, s.entity.signature);
  } catch (e) {
    return [fail("invalid", label(SIGSTORE_CHECKS.tlogBody), `${where}: ${errMessage(e)}`)];
  }
  const out = [pass(label(SIGSTORE_CHECKS.tlogBody), `${where}, ${entry.kindVersion.kind} ${entry.kindVersion.version}`)];
  const logKeys = s.opts.trust.rekorKeys.filter((k) => k.logId === entry.logId.keyId.toString("hex"));
  const untrustedLog = `the log's key (log ID ${entry.logId.keyId.toString("hex")}) is not in the trust material: import the Rekor key`;

  if (entry.inclusionPromise) {
    const r = inclusionPromise(s, entry as TLogEntryWithInclusionPromise, integrated, logKeys, untrustedLog, label);
    out.push(r);
    if (r.passed === false) return out;
  } else out.push(skip(label(SIGSTORE_CHECKS.set), "the entry has no inclusion promise"));

  if (entry.inclusionProof) {
    if (logKeys.length === 0) return [...out, fail("unverified", label(SIGSTORE_CHECKS.checkpoint), untrustedLog)];
    const proofEntry = entry as TLogEntryWithInclusionProof;
    let checkpoint: ReturnType<typeof verifyCheckpoint>;
    try {
      checkpoint = verifyCheckpoint(proofEntry, s.tm.tlogs);
    } catch (e) {
      return [...out, fail("unverified", label(SIGSTORE_CHECKS.checkpoint), `${errMessage(e)} (the trusted Rekor key's name must contain the log's origin, e.g. rekor.sigstore.dev)`)];
    }
    out.push(pass(label(SIGSTORE_CHECKS.checkpoint), `${checkpoint.origin}, tree size ${checkpoint.logSize}`));
    try {
      verifyMerkleInclusion(proofEntry, checkpoint);
    } catch (e) {
      return [...out, fail("invalid", label(SIGSTORE_CHECKS.inclusionProof), `${where}: ${errMessage(e)}`)];
    }
    const p = proofEntry.inclusionProof;
    out.push(pass(label(SIGSTORE_CHECKS.inclusionProof), `leaf ${p.logIndex} of ${p.treeSize} under root hash ${Buffer.from(p.rootHash).toString("hex").slice(0, 16)}…`));
  } else out.push(skip(label(SIGSTORE_CHECKS.inclusionProof), "the entry has no inclusion proof"));

  if (!entry.inclusionPromise && !entry.inclusionProof) return [...out, fail("unverified", label(SIGSTORE_CHECKS.inclusionProof), "the entry has neither an inclusion proof nor a SET")];
  return out;
}

/** The SET: a trusted key of that log, valid at the integrated time, signed the entry (and so its integrated time). */
function inclusionPromise(s: BundleState, entry: TLogEntryWithInclusionPromise, integrated: Date | null, logKeys: LogKey[], untrustedLog: string, label: (c: string) => string): StepResult {
  if (logKeys.length === 0) return fail("unverified", label(SIGSTORE_CHECKS.set), untrustedLog);
  const inRange = logKeys.filter((k) => !integrated || ((!k.validFrom || k.validFrom <= integrated) && (!k.validUntil || integrated <= k.validUntil)));
  if (inRange.length === 0) {
    return fail("unverified", label(SIGSTORE_CHECKS.set), `no trusted key of that log is valid at the integrated time ${integrated?.toISOString()} (${logKeys.map((k) => k.name).join(", ")})`);
  }
  // Try each trusted key of that log alone, to say which one vouched.
  const by = s.tm.tlogs.map((t, j) => ({ t, k: s.opts.trust.rekorKeys[j]! })).find(({ t }) => {
    try {
      verifyTLogSET(entry, [t]);
      return true;
    } catch {
      return false;
    }
  });
  if (!by) {
    const validAt = integrated ? ` at ${integrated.toISOString()}` : "";
    return fail("invalid", label(SIGSTORE_CHECKS.set), `the SET does not verify with the trusted key of that log${validAt} (${logKeys.map((k) => k.name).join(", ")})`);
  }
  if (integrated && integrated.getTime() > s.opts.now.getTime() + FUTURE_SKEW_MS) {
    return fail("invalid", label(SIGSTORE_CHECKS.set), `the integrated time ${integrated.toISOString()} is in the future`);
  }
  // Only the SET signs integratedTime; an inclusion proof alone proves inclusion, not when.
  if (integrated) s.trustedTimes.push({ at: integrated, by: by.k.name });
  return pass(label(SIGSTORE_CHECKS.set), `signed by ${by.k.name}${integrated ? `: integrated at ${integrated.toISOString()}` : ""}`);
}

/** 6. RFC 3161 timestamps from a trusted TSA, then the threshold of trusted times (SETs and tokens). */
const timestampsStep: VerifierStep<BundleState> = {
  name: "timestamps",
  run(s) {
    const { opts, tm, trustedTimes } = s;
    const out: StepResult[] = [];
    const tsTokens = s.entity.timestamps.flatMap((t) => (t.$case === "timestamp-authority" ? [t.timestamp] : []));
    for (const [i, token] of tsTokens.entries()) {
      const label = tsTokens.length > 1 ? `${SIGSTORE_CHECKS.tsa} (${i + 1} of ${tsTokens.length})` : SIGSTORE_CHECKS.tsa;
      if (tm.timestampAuthorities.length === 0) return [...out, fail("unverified", label, "no timestamp authority in the trust material")];
      const by = tm.timestampAuthorities
        .map((ca, j) => ({ ca, name: opts.trust.tsaRoots[j]!.name }))
        .map(({ ca, name }) => {
          try {
            return { at: getTSATimestamp(token, s.entity.signature.signature, [ca]).timestamp, name };
          } catch {
            return null;
          }
        })
        .find((x) => x !== null);
      if (!by) return [...out, fail("unverified", label, "no trusted timestamp authority verifies the token over the signature")];
      if (by.at.getTime() > opts.now.getTime() + FUTURE_SKEW_MS) return [...out, fail("invalid", label, `the token's time ${by.at.toISOString()} is in the future`)];
      trustedTimes.push({ at: by.at, by: by.name });
      out.push(pass(label, `${by.name} at ${by.at.toISOString()}`));
    }
    const { timestamp } = s.thresholds;
    const tsDetail = `${trustedTimes.length} trusted (${trustedTimes.map((t) => `${t.at.toISOString()} by ${t.by}`).join("; ") || "none"}), ${timestamp} required`;
    if (trustedTimes.length < timestamp) return [...out, fail("unverified", SIGSTORE_CHECKS.timestampThreshold, tsDetail)];
    const first = trustedTimes[0];
    s.time = first
      ? { kind: "trusted", at: first.at.toISOString(), by: first.by }
      : { kind: "claimed", at: s.claimedTime ? s.claimedTime.toISOString() : null, by: s.claimedTime ? "transparency log entry, not vouched for by a trusted key" : "no timestamp in the bundle" };
    if (timestamp === 0 && trustedTimes.length === 0) return [...out, skip(SIGSTORE_CHECKS.timestampThreshold, "none required")];
    return [...out, pass(SIGSTORE_CHECKS.timestampThreshold, tsDetail)];
  },
};

/** 7. The certificate chains to a trusted CA at every trusted time (a Fulcio certificate lives 10 minutes: never "now"). */
const chainStep: VerifierStep<BundleState> = {
  name: "certificate chain",
  run(s) {
    const { leaf, trustedTimes, opts, tm } = s;
    if (!leaf) {
      s.trustedBy = s.chosenKey?.name ?? null;
      return skip(CHECKS.chain, "key-based bundle: no certificate, the key is trusted directly");
    }
    if (trustedTimes.length === 0) return fail("unverified", CHECKS.chain, "no trusted time to check the certificate at: it needs a SET from a trusted log or a trusted timestamp");
    for (const t of trustedTimes) {
      try {
        s.path = verifyCertificateChain(t.at, leaf, tm.certificateAuthorities);
      } catch (e) {
        return fail("unverified", CHECKS.chain, `at ${t.at.toISOString()}: ${errMessage(e)}`);
      }
    }
    const root = s.path[s.path.length - 1];
    const anchor = root ? opts.trust.certificateRoots.find((a, j) => tm.certificateAuthorities[j]?.certChain.some((c) => c.equals(root))) : undefined;
    s.trustedBy = anchor?.name ?? null;
    return pass(CHECKS.chain, `chains to ${anchor?.name ?? "a trusted CA"} at ${trustedTimes.map((t) => t.at.toISOString()).join(", ")}`);
  },
};

/** 8. Certificate transparency: SCTs embedded by Fulcio, signed by a trusted CT log. */
const sctStep: VerifierStep<BundleState> = {
  name: "certificate transparency",
  run(s) {
    if (!s.leaf) return [];
    const { ctlog } = s.thresholds;
    if (ctlog <= 0) return skip(SIGSTORE_CHECKS.sct, "not required (CT threshold 0)");
    const issuer = s.path[1];
    if (!issuer) return fail("unverified", SIGSTORE_CHECKS.sct, "the certificate has no issuer in its verified chain");
    let scts: Buffer[];
    try {
      scts = verifySCTs(s.path[0]!, issuer, s.tm.ctlogs);
    } catch (e) {
      return fail("unverified", SIGSTORE_CHECKS.sct, `${errMessage(e)}: an embedded SCT is signed by no trusted CT log key`);
    }
    if (scts.length < ctlog) return fail("unverified", SIGSTORE_CHECKS.sct, `${scts.length} verified SCT(s), ${ctlog} required`);
    return pass(SIGSTORE_CHECKS.sct, `${scts.length} verified SCT(s), ${ctlog} required`);
  },
};

/** 9. The library's Verifier, as a whole, must agree with the steps above. */
const crossCheckStep: VerifierStep<BundleState> = {
  name: "cross-check with @sigstore/verify",
  run({ tm, thresholds, entity }) {
    try {
      new Verifier(tm, { tlogThreshold: thresholds.tlog, ctlogThreshold: thresholds.ctlog, timestampThreshold: thresholds.timestamp }).verify(entity);
    } catch (e) {
      const { check, verdict } = checkForCode(e);
      return fail(verdict, SIGSTORE_CHECKS.crossCheck, `failed at "${check}": ${errMessage(e)}`);
    }
    return pass(SIGSTORE_CHECKS.crossCheck, `tlog ${thresholds.tlog}, timestamps ${thresholds.timestamp}, SCTs ${thresholds.ctlog}`);
  },
};

/** The pipeline, in the order its checks are shown. */
export const SIGSTORE_BUNDLE_STEPS: readonly VerifierStep<BundleState>[] = [
  payloadDigestStep,
  wellFormedStep,
  namesDigestStep,
  signatureStep,
  tlogStep,
  timestampsStep,
  chainStep,
  sctStep,
  crossCheckStep,
];

/**
 * Verifies a Sigstore bundle (v0.1, v0.2, v0.3) offline against the given trust material, one check at a time, with
 * @sigstore/verify's own steps, then once more with its Verifier as a whole. Stops at the first failure, which the
 * verdict names: "invalid" when the bundle is broken or about something else, "unverified" when it may be genuine
 * but the trust material cannot vouch for it.
 */
export function verifySigstoreBundle(opts: VerifySigstoreBundleOptions): SignatureVerification {
  // The remaining fields are set by the steps before any later step reads them.
  const s = { opts, signer: null, time: null, trustedBy: null, leaf: null, chosenKey: undefined, path: [], trustedTimes: [], claimedTime: null } as unknown as BundleState;
  const r = runSteps(SIGSTORE_BUNDLE_STEPS, s);
  const base = { format: "sigstore-bundle" as const, checks: r.checks, signer: s.signer, time: s.time, trustedBy: s.trustedBy };
  if (r.verdict !== "verified") return { ...base, verdict: r.verdict, detail: r.detail };
  const whom = s.signer?.kind === "certificate" ? who(s.signer.leaf) : s.chosenKey ? `key ${s.chosenKey.name}` : "unknown signer";
  const when = s.time?.kind === "trusted" ? `, at ${s.time.at} (by ${s.time.by})` : "";
  return { ...base, verdict: "verified", detail: `verified: signed by ${whom}${when}` };
}

import { createHash } from "node:crypto";
import { bundleFromJSON, ValidationError, type Bundle } from "@sigstore/bundle";
import { crypto as sigstoreCrypto, type X509Certificate } from "@sigstore/core";
import { HashAlgorithm } from "@sigstore/protobuf-specs";
import { toSignedEntity, Verifier, VerificationError } from "@sigstore/verify";
// The package's entry point only exposes Verifier.verify, which throws at the first failure. Its lower-level steps
// are imported one by one so that each check is reported on its own (no "exports" map in @sigstore/verify 3.1.1,
// and these modules are what Verifier itself calls).
import { verifyCertificateChain } from "@sigstore/verify/dist/key/certificate";
import { verifySCTs } from "@sigstore/verify/dist/key/sct";
import { findKeyByHint, toSigstoreTrustMaterial } from "../trust/sigstore-root";
import { summarizeCertificate } from "../trust/x509";
import { errMessage, SIGSTORE_CHECKS, type BundleState, type SigstoreThresholds, type VerifySigstoreBundleOptions } from "./sigstore-common";
import { timestampsStep, tlogStep } from "./sigstore-time";
import { COSIGN_SIGN_PREDICATE_TYPE } from "./sigstore-write";
import { fail, pass, runSteps, skip, type StepResult, type VerifierStep } from "../steps";
import { CHECKS, type CertificateSummary, type SignatureVerification, type TrustMaterial, type Verdict } from "../verification";

export { SIGSTORE_CHECKS, type SigstoreThresholds, type VerifySigstoreBundleOptions };

/** Upper bound on a bundle: real ones are a few KiB; the chain and tlog entries are the bulk. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;
/** Bare keys tried for a key-based bundle whose hint names none of them. */
const MAX_KEYS_TRIED = 32;
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
function namedDigests(bundle: Bundle): { digests: string[]; what: string; predicateType?: string } | { error: string } {
  const content = bundle.content;
  switch (content.$case) {
    case "dsseEnvelope": {
      const env = content.dsseEnvelope;
      if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE)
        return { error: `the DSSE payload type is ${JSON.stringify(env.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}` };
      let st: unknown;
      try {
        st = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(env.payload));
      } catch {
        return { error: "the DSSE payload is not JSON" };
      }
      if (typeof st !== "object" || st === null || Array.isArray(st)) return { error: "the DSSE payload is not an in-toto statement" };
      const s = st as Record<string, unknown>;
      if (typeof s._type !== "string" || !IN_TOTO_STATEMENT_TYPES.includes(s._type))
        return { error: `the statement _type is ${JSON.stringify(s._type)?.slice(0, 80)}, not an in-toto Statement` };
      if (!Array.isArray(s.subject) || s.subject.length === 0) return { error: "the statement has no subject" };
      const digests: string[] = [];
      for (const sub of s.subject.slice(0, 1000)) {
        const d = (sub as { digest?: { sha256?: unknown } } | null)?.digest?.sha256;
        if (typeof d === "string" && /^[a-f0-9]{64}$/.test(d)) digests.push(`sha256:${d}`);
      }
      const pt = typeof s.predicateType === "string" ? s.predicateType : "no predicateType";
      return { digests, what: `in-toto statement (${pt.slice(0, 200)})`, predicateType: pt };
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

/** 1. The bytes are the ones the referrer's descriptor names. */
const payloadDigestStep: VerifierStep<BundleState> = {
  name: "payload digest",
  run({ opts }) {
    const actual = `sha256:${sha256Hex(opts.bundle)}`;
    if (opts.blobDigest === undefined) return skip(CHECKS.payloadDigest, `no descriptor digest given; the bundle's bytes hash to ${actual}`);
    if (actual !== opts.blobDigest)
      return fail("invalid", CHECKS.payloadDigest, `the bundle's bytes hash to ${actual}, the descriptor says ${opts.blobDigest}`);
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
    return pass(
      SIGSTORE_CHECKS.wellFormed,
      `${bundle.mediaType}: ${s.content}, ${kind === "key" ? "public key" : "certificate"}, ${n} tlog entr${n === 1 ? "y" : "ies"}`,
    );
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
    else if (!named.digests.includes(opts.subjectDigest))
      return fail("invalid", CHECKS.namesDigest, `the ${named.what} names ${list}, not ${opts.subjectDigest}`);
    else if (opts.asSignature && named.predicateType !== undefined && named.predicateType !== COSIGN_SIGN_PREDICATE_TYPE)
      // Not tampered, and not a signature either: an attestation about the digest (its statement is read as evidence).
      return fail(
        "unverified",
        CHECKS.namesDigest,
        `the ${named.what} is an attestation about ${opts.subjectDigest}, not a signature of it: only a ${COSIGN_SIGN_PREDICATE_TYPE} statement is, as cosign verify counts them`,
      );
    else r = pass(CHECKS.namesDigest, `the ${named.what} names ${opts.subjectDigest}`);
    if (bundle.content.$case === "messageSignature" && opts.artifact && `sha256:${sha256Hex(opts.artifact)}` !== named.digests[0]) {
      return [
        r,
        fail("invalid", CHECKS.namesDigest, `the artifact given hashes to sha256:${sha256Hex(opts.artifact)}, the message digest is ${named.digests[0]}`),
      ];
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
      return fail(
        "unverified",
        CHECKS.signature,
        "a message signature covers the signed artifact itself, which the bundle does not carry; the caller passed none",
      );
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
    if (!verifies(hinted))
      return fail(
        "invalid",
        CHECKS.signature,
        `the ${s.content} signature does not verify with trusted key ${hinted.name} (${hinted.fingerprint}), which the bundle's hint names`,
      );
    s.chosenKey = hinted;
  } else {
    s.chosenKey = s.opts.trust.keys.slice(0, MAX_KEYS_TRIED).find(verifies);
    if (!s.chosenKey) {
      return fail(
        "unverified",
        CHECKS.signature,
        `no trusted key verifies it (hint ${JSON.stringify(hint.slice(0, 80))}); an unknown key and a tampered signature look the same`,
      );
    }
    s.signer = { kind: "key", fingerprint: s.chosenKey.fingerprint, algorithm: s.chosenKey.algorithm };
  }
  return pass(CHECKS.signature, `verified by trusted key ${s.chosenKey.name} (${s.chosenKey.fingerprint})`);
}

/** 7. The certificate chains to a trusted CA at every trusted time (a Fulcio certificate lives 10 minutes: never "now"). */
const chainStep: VerifierStep<BundleState> = {
  name: "certificate chain",
  run(s) {
    const { leaf, trustedTimes, opts, tm } = s;
    if (!leaf) {
      s.trustedBy = s.chosenKey?.name ?? null;
      return skip(CHECKS.chain, "key-based bundle: no certificate, the key is trusted directly");
    }
    if (trustedTimes.length === 0)
      return fail("unverified", CHECKS.chain, "no trusted time to check the certificate at: it needs a SET from a trusted log or a trusted timestamp");
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
  const s = {
    opts,
    signer: null,
    time: null,
    trustedBy: null,
    leaf: null,
    chosenKey: undefined,
    path: [],
    trustedTimes: [],
    claimedTime: null,
  } as unknown as BundleState;
  const r = runSteps(SIGSTORE_BUNDLE_STEPS, s);
  const base = { format: "sigstore-bundle" as const, checks: r.checks, signer: s.signer, time: s.time, trustedBy: s.trustedBy };
  if (r.verdict !== "verified") return { ...base, verdict: r.verdict, detail: r.detail };
  const whom = s.signer?.kind === "certificate" ? who(s.signer.leaf) : s.chosenKey ? `key ${s.chosenKey.name}` : "unknown signer";
  const when = s.time?.kind === "trusted" ? `, at ${s.time.at} (by ${s.time.by})` : "";
  return { ...base, verdict: "verified", detail: `verified: signed by ${whom}${when}` };
}

/**
 * What the Sigstore bundle verifier's steps share: its check names, options, state and error wording. The steps are
 * in ./sigstore-bundle.ts (content, signature, chain, cross-check) and ./sigstore-time.ts (log entries, timestamps).
 */
import type { Bundle } from "@sigstore/bundle";
import type { X509Certificate } from "@sigstore/core";
import { VerificationError, type SignedEntity, type TrustMaterial as SigstoreTrustMaterial } from "@sigstore/verify";
import type { SignatureTime, SignerIdentity, TrustMaterial } from "../verification";

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
  /**
   * Judged as a signature of the subject, as `cosign verify` judges one: a DSSE in-toto statement then counts only
   * with predicateType https://sigstore.dev/cosign/sign/v1. Any other statement about the digest (SLSA provenance,
   * an SBOM, a VSA) is an attestation, which a CI identity makes for every build it runs, reviewed or not: it is not
   * its signer's approval of these bytes, and counting it as one would let every attested build pass as signed.
   */
  asSignature?: boolean;
}

/** Tolerated clock skew for "a timestamp in the future". */
export const FUTURE_SKEW_MS = 5 * 60 * 1000;

/** The verification's state, filled in by the steps in order (a later step only reads what an earlier one set). */
export interface BundleState {
  opts: VerifySigstoreBundleOptions;
  signer: SignerIdentity | null;
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

export function errMessage(e: unknown): string {
  if (e instanceof VerificationError) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : "";
    return `${e.message}${cause}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * Shared vocabulary of every signature verifier (cosign `.sig` layers, Sigstore bundles, Notation JWS).
 * Framework-free: plain data in, plain data out.
 *
 * A verification is an ordered pipeline. The cryptographic verifiers in lib/signing run the checks they can
 * judge alone (1-4, and the signature's own expiry); the trust evaluation (lib/signing/trust/judgement.ts) adds identity,
 * validity and revocation against the configured trust identities. "Unverified" always names the failed check.
 */

export const CHECKS = {
  payloadDigest: "payload matches its layer digest",
  namesDigest: "names this digest",
  signature: "signature is valid",
  chain: "certificate chain is valid at the trusted time",
  identity: "identity is trusted for this repository and role",
  expiry: "has not expired",
  revocation: "has not been revoked",
} as const;

export type CheckName = (typeof CHECKS)[keyof typeof CHECKS];

/** Canonical order of the pipeline, for display. Verifiers may add format-specific checks (e.g. "timestamp token covers the signature") in between. */
export const CHECK_ORDER: readonly string[] = Object.values(CHECKS);

export interface CheckResult {
  check: string;
  /** null: not run, because an earlier check failed or it does not apply (the detail says which). */
  passed: boolean | null;
  detail: string;
}

export type Verdict = "verified" | "unverified" | "invalid";

/**
 * When the signature was made. A time is "trusted" only when a trusted TSA root or a trusted Rekor key vouches for it;
 * anything the signer wrote itself is "claimed".
 */
export type SignatureTime = { kind: "trusted"; at: string; by: string } | { kind: "claimed"; at: string | null; by: string };

export interface CertificateSummary {
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  /** sha256:<hex> of the DER certificate. */
  fingerprint: string;
  /** Subject alternative names (URIs, emails, DNS names). */
  sans: string[];
  /** Fulcio OIDC issuer extension (1.3.6.1.4.1.57264.1.8, or the legacy 1.3.6.1.4.1.57264.1.1), when present. */
  oidcIssuer: string | null;
}

/** Who signed: a bare key, or a certificate (leaf first, then the chain as presented). */
export type SignerIdentity =
  { kind: "key"; fingerprint: string; algorithm: string } | { kind: "certificate"; leaf: CertificateSummary; chain: CertificateSummary[] };

export type SignatureFormat = "cosign" | "sigstore-bundle" | "notation";

export interface SignatureVerification {
  format: SignatureFormat;
  verdict: Verdict;
  /** One sentence a reviewer can read as is; for a failure, it names the failed check. */
  detail: string;
  checks: CheckResult[];
  signer: SignerIdentity | null;
  time: SignatureTime | null;
  /** Name of the trust identity that vouched for the signer (key, root, Sigstore material), when one did. */
  trustedBy: string | null;
}

/** Builds the "stop at the first failure" result the verifiers share. */
export function failAt(
  checks: CheckResult[],
  verdict: Exclude<Verdict, "verified">,
  check: string,
  detail: string,
): { verdict: Verdict; detail: string; checks: CheckResult[] } {
  checks.push({ check, passed: false, detail });
  return { verdict, detail: `${verdict === "invalid" ? "invalid" : "not verified"}: ${check} failed: ${detail}`, checks };
}

/**
 * Trust anchors, as plain data, handed to the cryptographic verifiers. Which identity may sign which repository in
 * which role is not decided here but in lib/signing/trust/judgement.ts; the verifiers only report which anchor vouched.
 */
export interface TrustMaterial {
  /** Bare public keys (cosign.pub style). */
  keys: readonly { name: string; fingerprint: string; key: import("node:crypto").KeyObject; algorithm: string }[];
  /** X.509 roots or intermediates that certificate chains may end at (PEM). Fulcio CAs from Sigstore material are included here too. */
  certificateRoots: readonly AnchorCertificates[];
  /** RFC 3161 timestamp authority roots (PEM). */
  tsaRoots: readonly AnchorCertificates[];
  /** Transparency log (Rekor) public keys. logId is the hex SHA-256 of the DER SubjectPublicKeyInfo. */
  rekorKeys: readonly LogKey[];
  /** Certificate Transparency log keys (for SCTs in Fulcio certificates). */
  ctLogKeys: readonly LogKey[];
}

export interface AnchorCertificates {
  name: string;
  /** PEM certificates: the anchor and, optionally, its intermediates. */
  certificates: readonly string[];
  validFrom?: Date | null;
  validUntil?: Date | null;
}

export interface LogKey {
  name: string;
  logId: string;
  key: import("node:crypto").KeyObject;
  validFrom?: Date | null;
  validUntil?: Date | null;
}

export const EMPTY_TRUST: TrustMaterial = { keys: [], certificateRoots: [], tsaRoots: [], rekorKeys: [], ctLogKeys: [] };

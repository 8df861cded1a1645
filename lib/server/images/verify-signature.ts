import "server-only";
import type { Descriptor } from "../../oci/manifest";
import { verifyCosignLayer, type TrustedKey } from "../../signing/cosign";
import type { PublicKeyAlgorithm } from "../../signing/keys";
import { CHECKS, type CheckResult, type SignatureFormat, type SignatureVerification, type TrustMaterial } from "../../signing/verification";

/** What refreshSignatures stores besides the verification: the simple-signing payload's fields, when there is one. */
export interface VerifiedSignature extends SignatureVerification {
  dockerReference?: string | null;
  payloadDigest?: string | null;
  optional?: Record<string, unknown> | null;
}

/** A signature that cannot be judged at all (not read, too large, no verifier): invalid, with the reason as its one check. */
export function unreadable(format: SignatureFormat, check: string, detail: string): VerifiedSignature {
  return { format, verdict: "invalid", detail: `invalid: ${check} failed: ${detail}`, checks: [{ check, passed: false, detail }], signer: null, time: null, trustedBy: null };
}

// The skeleton's key-only cosign verifier names its checks slightly differently; these are the shared names.
const RENAME: Record<string, string> = { "payload matches layer digest": CHECKS.payloadDigest };

/**
 * A key-based cosign `.sig` layer, through the skeleton's verifier (lib/signing/cosign.ts), reported in the shared
 * SignatureVerification shape. Keys come from the trust material; judgeTrust decides scope, role and time.
 */
export function verifyCosignKeyLayer(opts: { layer: Descriptor; blob: Uint8Array | null; imageDigest: string; material: TrustMaterial }): VerifiedSignature {
  const keys: TrustedKey[] = opts.material.keys.map((k) => ({
    name: k.name,
    fingerprint: k.fingerprint,
    key: { key: k.key, algorithm: k.algorithm as PublicKeyAlgorithm, fingerprint: k.fingerprint, pem: k.key.export({ format: "pem", type: "spki" }).toString() },
  }));
  const r = verifyCosignLayer({ layer: opts.layer, blob: opts.blob, imageDigest: opts.imageDigest, trustedKeys: keys });
  const checks: CheckResult[] = r.checks.map((c) => ({ check: RENAME[c.check] ?? c.check, passed: c.passed, detail: c.detail }));
  const signed = r.verdict === "verified" && r.key;
  if (signed || checks.some((c) => c.check === CHECKS.signature)) {
    checks.push({ check: CHECKS.chain, passed: null, detail: signed ? "not run: a key-based signature has no certificate chain" : "not run: an earlier check failed" });
  }
  const key = signed ? opts.material.keys.find((k) => k.fingerprint === r.key!.fingerprint) : undefined;
  const ts = r.optional?.timestamp ?? r.optional?.["dev.imprimatur/approved-at"];
  const claimed = typeof ts === "number" ? new Date(ts * 1000) : typeof ts === "string" && !Number.isNaN(Date.parse(ts)) ? new Date(ts) : null;
  const failed = checks.find((c) => c.passed === false);
  return {
    format: "cosign",
    verdict: r.verdict,
    detail: failed ? `${r.verdict === "invalid" ? "invalid" : "not verified"}: ${failed.check} failed: ${failed.detail}` : r.detail,
    checks,
    signer: key ? { kind: "key", fingerprint: key.fingerprint, algorithm: key.algorithm } : null,
    time: claimed ? { kind: "claimed", at: claimed.toISOString(), by: typeof ts === "number" ? "optional.timestamp in the signed payload" : "dev.imprimatur/approved-at in the signed payload" } : null,
    trustedBy: r.key?.name ?? null,
    dockerReference: r.dockerReference ?? null,
    payloadDigest: r.payloadDigest ?? null,
    optional: r.optional ?? null,
  };
}

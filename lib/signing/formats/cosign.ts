import { sha256Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import type { Descriptor } from "../../oci/manifest";
import { verifyRaw, type PublicKeyInfo } from "../keys/software";
import { COSIGN_SIGNATURE_TYPE, parseSimpleSigningPayload, SIGNATURE_ANNOTATION } from "./simple-signing";

export interface TrustedKey {
  name: string;
  fingerprint: string;
  key: PublicKeyInfo;
}

export interface CheckResult {
  check: string;
  passed: boolean;
  detail: string;
}

export type Verdict = "verified" | "unverified" | "invalid";

export interface LayerVerification {
  verdict: Verdict;
  /** A sentence a reviewer can read as is. */
  detail: string;
  checks: CheckResult[];
  key?: { name: string; fingerprint: string };
  dockerReference?: string;
  payloadDigest?: string;
  optional?: Record<string, unknown> | null;
}

export const NO_TRUSTED_KEY =
  "not verified: no trusted key verifies it. A key-based signature does not name its key, so a signature by an unknown key and a tampered signature look the same";

/**
 * Verifies one layer of a cosign `.sig` manifest against the image digest and a set of trusted keys.
 * Checks run in order and stop at the first failure, so the verdict always names the failed check.
 */
export function verifyCosignLayer(opts: {
  layer: Descriptor;
  /** The blob bytes, or null when the blob could not be fetched. */
  blob: Uint8Array | null;
  imageDigest: string;
  trustedKeys: readonly TrustedKey[];
}): LayerVerification {
  const { layer, blob, imageDigest, trustedKeys } = opts;
  const checks: CheckResult[] = [];
  const stop = (verdict: Verdict, check: string, detail: string, extra: Partial<LayerVerification> = {}): LayerVerification => {
    checks.push({ check, passed: false, detail });
    return { verdict, detail, checks, ...extra };
  };

  if (layer.mediaType !== MT.cosignSimpleSigning) {
    return stop("invalid", "media type", `layer media type is ${layer.mediaType}, not ${MT.cosignSimpleSigning}`);
  }
  if (!blob) return stop("invalid", "payload matches layer digest", "the payload blob could not be read from the registry");
  const actual = sha256Digest(blob);
  if (actual !== layer.digest || blob.byteLength !== layer.size) {
    return stop(
      "invalid",
      "payload matches layer digest",
      `the layer's bytes don't match its digest: descriptor says ${layer.digest} (${layer.size} bytes), bytes hash to ${actual} (${blob.byteLength} bytes)`,
    );
  }
  checks.push({ check: "payload matches layer digest", passed: true, detail: layer.digest });

  const payload = parseSimpleSigningPayload(blob);
  if ("error" in payload) return stop("invalid", "payload format", payload.error);
  const extra: Partial<LayerVerification> = {
    dockerReference: payload.critical.identity["docker-reference"],
    payloadDigest: payload.critical.image["docker-manifest-digest"],
    optional: payload.optional,
  };
  if (payload.critical.type !== COSIGN_SIGNATURE_TYPE) {
    return stop("invalid", "payload type", `critical.type is ${JSON.stringify(payload.critical.type)}, not "${COSIGN_SIGNATURE_TYPE}"`, extra);
  }
  checks.push({ check: "payload type", passed: true, detail: COSIGN_SIGNATURE_TYPE });

  const named = payload.critical.image["docker-manifest-digest"];
  if (named !== imageDigest) {
    return stop("invalid", "names this digest", `the payload names another digest: ${named}, not ${imageDigest}`, extra);
  }
  checks.push({ check: "names this digest", passed: true, detail: named });

  const sigB64 = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (!sigB64) return stop("invalid", "signature is valid", `layer has no ${SIGNATURE_ANNOTATION} annotation`, extra);
  const sig = Buffer.from(sigB64, "base64");
  if (sig.length === 0 || sig.toString("base64") !== sigB64.replace(/\s+/g, "")) {
    return stop("invalid", "signature is valid", "signature annotation is not valid base64", extra);
  }
  for (const tk of trustedKeys) {
    if (verifyRaw(tk.key, blob, sig)) {
      checks.push({ check: "signature is valid", passed: true, detail: `verified by trusted key ${tk.name} (${tk.fingerprint})` });
      return {
        verdict: "verified",
        detail: `verified by trusted key "${tk.name}"`,
        checks,
        key: { name: tk.name, fingerprint: tk.fingerprint },
        ...extra,
      };
    }
  }
  return stop("unverified", "signature is valid", NO_TRUSTED_KEY, extra);
}

import "server-only";
import { sha256Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { verifyCosignSignatureLayer } from "../../signing/formats/cosign-cert";
import { parseSimpleSigningPayload } from "../../signing/formats/simple-signing";
import type { SignatureFormat, SignatureVerification, TrustMaterial } from "../../signing/verification";

/** What refreshSignatures stores besides the verification: the simple-signing payload's fields, when there is one. */
export interface VerifiedSignature extends SignatureVerification {
  dockerReference?: string | null;
  payloadDigest?: string | null;
  optional?: Record<string, unknown> | null;
}

/** A signature that cannot be judged at all (not read, too large, no verifier): invalid, with the reason as its one check. */
export function unreadable(format: SignatureFormat, check: string, detail: string): VerifiedSignature {
  return {
    format,
    verdict: "invalid",
    detail: `invalid: ${check} failed: ${detail}`,
    checks: [{ check, passed: false, detail }],
    signer: null,
    time: null,
    trustedBy: null,
  };
}

/**
 * A cosign `.sig` layer, key- or certificate-based (lib/signing/formats/cosign-cert.ts dispatches), with the payload's fields
 * for display. When the verifier found no time, the payload's own timestamp is shown as a claimed time.
 */
export function verifyCosignLayerWithPayload(opts: {
  layer: Descriptor;
  blob: Uint8Array | null;
  imageDigest: string;
  material: TrustMaterial;
  now?: Date;
}): VerifiedSignature {
  const v = verifyCosignSignatureLayer({
    layer: opts.layer,
    blob: opts.blob,
    imageDigest: opts.imageDigest,
    trust: opts.material,
    now: opts.now ?? new Date(),
  });
  // Only bytes that hash to the layer digest are shown as "the payload".
  const payload = opts.blob && sha256Digest(opts.blob) === opts.layer.digest ? parseSimpleSigningPayload(opts.blob) : null;
  if (!payload || "error" in payload) return v;
  let time = v.time;
  if (!time) {
    const ts = payload.optional?.timestamp ?? payload.optional?.["dev.imprimatur/approved-at"];
    const at = typeof ts === "number" ? new Date(ts * 1000) : typeof ts === "string" && !Number.isNaN(Date.parse(ts)) ? new Date(ts) : null;
    if (at && !Number.isNaN(at.getTime())) {
      time = {
        kind: "claimed",
        at: at.toISOString(),
        by: typeof ts === "number" ? "optional.timestamp in the signed payload" : "dev.imprimatur/approved-at in the signed payload",
      };
    }
  }
  return {
    ...v,
    time,
    dockerReference: payload.critical.identity["docker-reference"],
    payloadDigest: payload.critical.image["docker-manifest-digest"],
    optional: payload.optional,
  };
}

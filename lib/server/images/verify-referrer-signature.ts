import "server-only";
import type { Descriptor } from "../../oci/manifest";
import { verifyNotationSignature } from "../../signing/formats/notation";
import { verifySigstoreBundle } from "../../signing/formats/sigstore-bundle";
import type { TrustMaterial } from "../../signing/verification";
import type { VerifiedSignature } from "./verify-signature";

/**
 * A signature attached as an OCI referrer: a Sigstore bundle (the bundle JSON is the layer) or a Notation signature
 * (the JWS envelope is the layer). Each format's own verifier checks the blob against its descriptor and runs the
 * cryptographic part of the pipeline; judgeTrust adds identity, validity and revocation.
 *
 * Sigstore thresholds come from the trust configuration (a Sigstore identity's `thresholds`, for the repositories in its
 * scope); otherwise they follow the bundle (lib/signing/formats/sigstore-bundle.ts defaultThresholds): a Fulcio certificate
 * needs a verified log entry and SCT from the imported Sigstore material; a key-based bundle without a log entry needs
 * none, since Imprimatur's own bundles are written for a private registry and never go to a public log.
 */
export async function verifyReferrerSignature(opts: {
  kind: "sigstore-bundle" | "notation-signature";
  layer: Descriptor;
  blob: Uint8Array;
  imageDigest: string;
  material: TrustMaterial;
  manifestAnnotations: Record<string, string>;
  /** Thresholds from the trust configuration for this repository; undefined keeps the bundle's defaults. */
  thresholds?: { tlog?: number; timestamp?: number; ctlog?: number };
}): Promise<VerifiedSignature> {
  const now = new Date();
  if (opts.kind === "notation-signature") {
    return verifyNotationSignature({
      envelope: opts.blob,
      mediaType: opts.layer.mediaType,
      subjectDigest: opts.imageDigest,
      trust: opts.material,
      now,
      blobDigest: opts.layer.digest,
    });
  }
  return verifySigstoreBundle({
    // In the signature chain: an attestation bundle about the image (provenance, SBOM) is evidence, not a signature.
    asSignature: true,
    bundle: opts.blob,
    blobDigest: opts.layer.digest,
    subjectDigest: opts.imageDigest,
    trust: opts.material,
    now,
    ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
  });
}

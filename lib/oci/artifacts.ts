import { baseMediaType, isSbomMediaType, isSigstoreBundleMediaType, MT } from "./media-types";
import type { ReferrerSource } from "./referrers";

export type ArtifactKind = "signature" | "attestation" | "sbom" | "sigstore-bundle" | "notation-signature" | "other";

export interface ArtifactFacts {
  /** The manifest's (or the referrers descriptor's) artifactType. */
  artifactType?: string;
  manifestMediaType?: string;
  configMediaType?: string;
  layerMediaTypes: string[];
  /** Manifest annotations (or the referrers descriptor's, which the spec says are copied from the manifest). */
  annotations?: Record<string, string>;
  /** Per-layer annotations, in layer order. */
  layerAnnotations?: Record<string, string>[];
  /**
   * Where it was found. Not used to decide the kind: a tag name is chosen by whoever pushed it, the media types
   * describe what the bytes are. Accepted so callers can pass what they have.
   */
  source?: ReferrerSource;
}

export interface ArtifactClass {
  kind: ArtifactKind;
  /** in-toto predicate type, for attestations and Sigstore bundles when the registry metadata states it. */
  predicateType?: string;
}

const BUNDLE_PREDICATE = "dev.sigstore.bundle.predicateType";

/**
 * Classifies a referrer or cosign accessory from its media types and annotations (formats.md 1.2, 2.1, 2.3, 2.4, 4.1).
 * Order matters only for mixed manifests: the most specific evidence wins (Notation, Sigstore bundle, cosign
 * simple-signing, DSSE, SBOM).
 */
export function classifyArtifact(facts: ArtifactFacts): ArtifactClass {
  const artifactType = facts.artifactType ? baseMediaType(facts.artifactType) : undefined;
  const config = facts.configMediaType ? baseMediaType(facts.configMediaType) : undefined;
  const layers = facts.layerMediaTypes.map(baseMediaType);
  const typed = (mt: string) => artifactType === mt || config === mt;

  if (typed(MT.notarySignature)) return { kind: "notation-signature" };

  // Bundles: by artifactType (what the referrers API shows) or by layer. Keep the raw strings for the
  // `+json;version=0.x` form, whose version lives in a parameter.
  if ((facts.artifactType && isSigstoreBundleMediaType(facts.artifactType)) || facts.layerMediaTypes.some(isSigstoreBundleMediaType)) {
    const predicateType = facts.annotations?.[BUNDLE_PREDICATE];
    return { kind: "sigstore-bundle", ...(predicateType ? { predicateType } : {}) };
  }

  if (layers.includes(MT.cosignSimpleSigning) || typed(MT.cosignArtifactSig)) return { kind: "signature" };

  const dsse = layers.findIndex((l) => l === MT.dsseEnvelope);
  if (dsse >= 0 || artifactType === MT.dsseEnvelope || artifactType === MT.inTotoStatement) {
    const predicateType =
      (dsse >= 0 ? facts.layerAnnotations?.[dsse]?.predicateType : undefined) ??
      facts.layerAnnotations?.find((a) => a?.predicateType)?.predicateType ??
      facts.annotations?.predicateType;
    return { kind: "attestation", ...(predicateType ? { predicateType } : {}) };
  }

  if (layers.some(isSbomMediaType) || (artifactType && isSbomMediaType(artifactType))) return { kind: "sbom" };

  return { kind: "other" };
}

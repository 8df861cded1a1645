export const MT = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  cosignSimpleSigning: "application/vnd.dev.cosign.simplesigning.v1+json",
  dsseEnvelope: "application/vnd.dsse.envelope.v1+json",
  inTotoStatement: "application/vnd.in-toto+json",
  /** cosign 2's experimental `--registry-referrers-mode=oci-1-1` signature artifact type. */
  cosignArtifactSig: "application/vnd.dev.cosign.artifact.sig.v1+json",
  sigstoreBundleV03: "application/vnd.dev.sigstore.bundle.v0.3+json",
  notarySignature: "application/vnd.cncf.notary.signature",
  dockerManifestV1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestV1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/**
 * SBOM media types on read (formats.md 2.3): cosign's current ones, older cosign's suffix-less CycloneDX,
 * the literal `spdx+json` cosign writes, `text/spdx+json` one reader expects, and the IANA `application/spdx+json`.
 */
export const SBOM_MEDIA_TYPES: readonly string[] = [
  "application/vnd.cyclonedx+json",
  "application/vnd.cyclonedx+xml",
  "application/vnd.cyclonedx",
  "text/spdx",
  "spdx+json",
  "text/spdx+json",
  "application/spdx+json",
  "application/vnd.syft+json",
];

/** The media type without parameters, lowercased: `Application/X+json; charset=utf-8` → `application/x+json`. */
export function baseMediaType(mt: string): string {
  return (mt.split(";")[0] ?? "").trim().toLowerCase();
}

export function isSbomMediaType(mt: string): boolean {
  return SBOM_MEDIA_TYPES.includes(baseMediaType(mt));
}

/** `application/vnd.dev.sigstore.bundle.v0.3+json` and the older `application/vnd.dev.sigstore.bundle+json;version=0.x`. */
export function isSigstoreBundleMediaType(mt: string): boolean {
  const base = baseMediaType(mt);
  return /^application\/vnd\.dev\.sigstore\.bundle\.v0\.\d+\+json$/.test(base) || base === "application/vnd.dev.sigstore.bundle+json";
}

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerManifestList].join(", ");

export function isIndexMediaType(mt: string): boolean {
  return mt === MT.ociIndex || mt === MT.dockerManifestList;
}

export function isImageManifestMediaType(mt: string): boolean {
  return mt === MT.ociManifest || mt === MT.dockerManifest;
}

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
} as const;

export const MANIFEST_ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerManifestList].join(", ");

export function isIndexMediaType(mt: string): boolean {
  return mt === MT.ociIndex || mt === MT.dockerManifestList;
}

export function isImageManifestMediaType(mt: string): boolean {
  return mt === MT.ociManifest || mt === MT.dockerManifest;
}

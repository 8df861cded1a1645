import { describe, expect, it } from "vitest";
import { classifyArtifact } from "./artifacts";
import { MT } from "./media-types";

describe("classifyArtifact", () => {
  it("cosign .sig: simple-signing layers are a signature", () => {
    expect(
      classifyArtifact({ configMediaType: MT.ociConfig, layerMediaTypes: [MT.cosignSimpleSigning, MT.cosignSimpleSigning], source: "cosign-tag" }),
    ).toEqual({ kind: "signature" });
    // cosign 2 oci-1-1 mode, seen through the referrers API before its manifest is read
    expect(classifyArtifact({ artifactType: MT.cosignArtifactSig, layerMediaTypes: [] })).toEqual({ kind: "signature" });
  });

  it("cosign .att: DSSE layers are an attestation, predicateType from the layer annotation", () => {
    expect(
      classifyArtifact({
        layerMediaTypes: [MT.dsseEnvelope],
        layerAnnotations: [{ predicateType: "https://slsa.dev/provenance/v0.2", "dev.cosignproject.cosign/signature": "" }],
      }),
    ).toEqual({ kind: "attestation", predicateType: "https://slsa.dev/provenance/v0.2" });
    // 2022-era cosign wrote no predicateType annotation
    expect(classifyArtifact({ layerMediaTypes: [MT.dsseEnvelope], layerAnnotations: [{}] })).toEqual({ kind: "attestation" });
  });

  it.each([
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.cyclonedx",
    "text/spdx",
    "spdx+json",
    "text/spdx+json",
    "application/vnd.syft+json",
    "application/vnd.cyclonedx+json; version=1.5",
  ])("SBOM layer %s is an sbom", (mt) => {
    expect(classifyArtifact({ configMediaType: MT.ociConfig, layerMediaTypes: [mt] })).toEqual({ kind: "sbom" });
  });

  it("an SBOM artifactType from the referrers API is an sbom", () => {
    expect(classifyArtifact({ artifactType: "application/spdx+json", layerMediaTypes: [] })).toEqual({ kind: "sbom" });
  });

  it("Sigstore bundles (v0.3 and the older +json;version=0.x), predicateType from the manifest annotation", () => {
    const annotations = { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" };
    expect(
      classifyArtifact({ artifactType: MT.sigstoreBundleV03, configMediaType: MT.ociEmpty, layerMediaTypes: [MT.sigstoreBundleV03], annotations }),
    ).toEqual({
      kind: "sigstore-bundle",
      predicateType: "https://sigstore.dev/cosign/sign/v1",
    });
    expect(classifyArtifact({ layerMediaTypes: ["application/vnd.dev.sigstore.bundle+json;version=0.1"] })).toEqual({ kind: "sigstore-bundle" });
    expect(classifyArtifact({ artifactType: "application/vnd.dev.sigstore.bundle+json;version=0.2", layerMediaTypes: [], annotations })).toMatchObject({
      kind: "sigstore-bundle",
    });
  });

  it("Notation signatures", () => {
    expect(classifyArtifact({ artifactType: MT.notarySignature, configMediaType: MT.ociEmpty, layerMediaTypes: ["application/jose+json"] })).toEqual({
      kind: "notation-signature",
    });
    expect(classifyArtifact({ configMediaType: MT.notarySignature, layerMediaTypes: ["application/cose"] })).toEqual({ kind: "notation-signature" });
  });

  it("anything else is other", () => {
    expect(classifyArtifact({ configMediaType: MT.ociConfig, layerMediaTypes: [MT.ociLayerGzip] })).toEqual({ kind: "other" });
    expect(classifyArtifact({ artifactType: "application/vnd.example.thing", layerMediaTypes: [] })).toEqual({ kind: "other" });
    expect(classifyArtifact({ layerMediaTypes: [] })).toEqual({ kind: "other" });
  });
});

import { describe, expect, it } from "vitest";
import { OciError } from "./digest";
import { parseManifest } from "./manifest";
import { MT } from "./media-types";

const D = `sha256:${"ab".repeat(32)}`;
const desc = { mediaType: MT.ociConfig, digest: D, size: 2 };
const bytes = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof OciError) return e.code;
    throw e;
  }
  return "no error";
}

describe("parseManifest", () => {
  it("parses image manifests and indexes by declared type, Content-Type, or shape", () => {
    expect(parseManifest(bytes({ schemaVersion: 2, mediaType: MT.ociManifest, config: desc, layers: [] })).kind).toBe("manifest");
    expect(parseManifest(bytes({ schemaVersion: 2, config: desc, layers: [] }), MT.dockerManifest)).toMatchObject({
      kind: "manifest",
      mediaType: MT.dockerManifest,
    });
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] }))).toMatchObject({ kind: "index", mediaType: MT.ociIndex });
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), `${MT.dockerManifestList}; charset=utf-8`)).toMatchObject({
      kind: "index",
      mediaType: MT.dockerManifestList,
    });
  });

  it("keeps a document with an unknown media type as kind unknown", () => {
    const artifact = { mediaType: "application/vnd.oci.artifact.manifest.v1+json", artifactType: "x", blobs: [] };
    expect(parseManifest(bytes(artifact))).toEqual({ kind: "unknown", mediaType: "application/vnd.oci.artifact.manifest.v1+json", json: artifact });
    expect(parseManifest(bytes({ schemaVersion: 1, fsLayers: [] }), "application/vnd.docker.distribution.manifest.v1+prettyjws")).toMatchObject({
      kind: "unknown",
      mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws",
    });
    expect(parseManifest(bytes({ hello: "world" }))).toMatchObject({ kind: "unknown", mediaType: "" });
  });

  it("still parses an unknown media type that is shaped like a manifest", () => {
    const p = parseManifest(bytes({ schemaVersion: 2, mediaType: "application/vnd.vendor.manifest+json", config: desc, layers: [] }));
    expect(p).toMatchObject({ kind: "manifest", mediaType: "application/vnd.vendor.manifest+json" });
  });

  it("throws BAD_RESPONSE for invalid JSON, non-objects, and known types that don't validate", () => {
    expect(codeOf(() => parseManifest(bytes("{not json")))).toBe("BAD_RESPONSE");
    expect(codeOf(() => parseManifest(bytes("[1,2]")))).toBe("BAD_RESPONSE");
    expect(codeOf(() => parseManifest(bytes("null")))).toBe("BAD_RESPONSE");
    expect(codeOf(() => parseManifest(bytes({ schemaVersion: 2, mediaType: MT.ociManifest, layers: [] })))).toBe("BAD_RESPONSE");
    expect(codeOf(() => parseManifest(bytes({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ digest: "md5:x" }] })))).toBe("BAD_RESPONSE");
    expect(codeOf(() => parseManifest(bytes({ foo: 1 }), MT.ociManifest))).toBe("BAD_RESPONSE");
  });
});

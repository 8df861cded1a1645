import { describe, expect, it } from "vitest";
import { OciError } from "./digest";
import { goImageConfig, parseManifest } from "./manifest";
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

describe("parseManifest reads null fields and deep junk as Go tools do", () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const layer = { mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: d("a"), size: 10 };

  it("a JSON null leaves a field at its zero value instead of refusing the document", () => {
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      annotations: null,
      subject: null,
      config: { mediaType: MT.ociConfig, digest: d("c"), size: 2, annotations: null, urls: null },
      layers: [{ ...layer, annotations: { "dev.cosignproject.cosign/signature": "MEUC", other: null }, platform: null }],
    };
    const p = parseManifest(Buffer.from(JSON.stringify(doc)));
    expect(p.kind).toBe("manifest");
    if (p.kind !== "manifest") return;
    expect(p.manifest.annotations).toBeUndefined();
    expect(p.manifest.layers[0]!.annotations).toEqual({ "dev.cosignproject.cosign/signature": "MEUC" });
    const empty = parseManifest(Buffer.from(JSON.stringify({ ...doc, layers: null })));
    expect(empty.kind === "manifest" && empty.manifest.layers).toEqual([]);
  });

  it("an index entry with an empty platform states none (it is then judged as unknown/unknown, never as an attestation)", () => {
    const p = parseManifest(
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: d("b"), size: 3, platform: {} }] }),
      ),
    );
    expect(p.kind === "index" && p.index.manifests[0]!.platform).toBeUndefined();
  });

  it("past the depth limit keeps only the modelled fields, so what it returns can be written again", () => {
    const n = 20_000;
    const text = JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      junk: "@@",
      config: { mediaType: MT.ociConfig, digest: d("c"), size: 2, extra: "@@" },
      layers: [layer],
    }).replaceAll('"@@"', "[".repeat(n) + "]".repeat(n));
    const p = parseManifest(Buffer.from(text));
    expect(p.kind).toBe("manifest");
    if (p.kind !== "manifest") return;
    expect(Object.keys(p.manifest).sort()).toEqual(["config", "layers", "mediaType", "schemaVersion"]);
    expect(JSON.parse(JSON.stringify(p.manifest)).config).toEqual({ mediaType: MT.ociConfig, digest: d("c"), size: 2 });
    // A shallow document keeps its unknown fields, as before.
    const shallow = parseManifest(
      Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: MT.ociConfig, digest: d("c"), size: 2 }, layers: [], vendor: { x: 1 } })),
    );
    expect(shallow.kind === "manifest" && (shallow.manifest as Record<string, unknown>).vendor).toEqual({ x: 1 });
  });
});

describe("parseManifest matches keys to fields as Go's encoding/json does", () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const layer = (c: string) => ({ mediaType: "application/vnd.dev.cosign.simplesigning.v1+json", digest: d(c), size: 10 });
  const config = { mediaType: MT.ociConfig, digest: d("c"), size: 2 };

  it("a key in another case sets the same field, the last one winning (what cosign reads is what is judged)", () => {
    // Found by review: `"Layers"` after `"layers"` was kept as an unknown field here while Go tools read it, so a
    // revoked layer put back under it went unseen, and every rewrite of the manifest kept it.
    const text = `{"schemaVersion":2,"mediaType":"${MT.ociManifest}","config":${JSON.stringify(config)},"layers":[${JSON.stringify(layer("a"))}],"Layers":[${JSON.stringify(layer("a"))},${JSON.stringify(layer("b"))}]}`;
    const p = parseManifest(Buffer.from(text));
    expect(p.kind === "manifest" && p.manifest.layers.map((l) => l.digest)).toEqual([d("a"), d("b")]);
    expect(p.kind === "manifest" && Object.keys(p.manifest)).not.toContain("Layers");
    const desc = parseManifest(
      Buffer.from(`{"schemaVersion":2,"config":${JSON.stringify(config)},"layers":[{"mediaType":"x/y","digest":"${d("a")}","DIGEST":"${d("e")}","size":1}]}`),
    );
    expect(desc.kind === "manifest" && desc.manifest.layers[0]!.digest).toBe(d("e"));
    // bytes.EqualFold folds the Kelvin sign and the long s as well.
    const kelvin = parseManifest(Buffer.from(`{"\u017fchemaVersion":2,"config":${JSON.stringify(config)},"layers":[]}`));
    expect(kelvin.kind).toBe("manifest");
  });

  it("a null clears a list, map or pointer but leaves a string; a null entry of a list is dropped", () => {
    const text = `{"schemaVersion":2,"mediaType":"${MT.ociManifest}","MediaType":null,"config":${JSON.stringify(config)},"layers":[null,${JSON.stringify({ ...layer("a"), annotations: { k: "v" } })}],"annotations":{"x":"y"},"Annotations":null}`;
    const p = parseManifest(Buffer.from(text));
    expect(p.kind).toBe("manifest");
    if (p.kind !== "manifest") return;
    expect(p.mediaType).toBe(MT.ociManifest);
    expect(p.manifest.annotations).toBeUndefined();
    expect(p.manifest.layers.map((l) => [l.digest, l.annotations])).toEqual([[d("a"), { k: "v" }]]);
  });
});

describe("a field set again by a key in another case is merged as Go decodes it", () => {
  const d = (c: string) => `sha256:${c.repeat(64)}`;
  const head = `"schemaVersion":2,"mediaType":"${MT.ociManifest}"`;
  const config = `"config":{"mediaType":"${MT.ociConfig}","digest":"${d("c")}","size":2}`;
  const sigLayer = `{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"${d("a")}","size":10,"annotations":{"dev.cosignproject.cosign/signature":"SIG"}}`;

  it("an empty object after a full one keeps what the first set (config, subject, annotations)", () => {
    // Found by review: `"Config": {}` replaced the config here, so a `.sig` manifest Go reads (a revoked layer pushed
    // back in it) was refused and its layer went unseen.
    const a = parseManifest(Buffer.from(`{${head},${config},"layers":[${sigLayer}],"Config":{}}`));
    expect(a.kind === "manifest" && a.manifest.config.digest).toBe(d("c"));
    const b = parseManifest(
      Buffer.from(
        `{${head},${config},"layers":[{"mediaType":"x/y","digest":"${d("a")}","size":1,"annotations":{"k":"v"},"Annotations":{}}],"subject":{"mediaType":"${MT.ociManifest}","digest":"${d("f")}","size":5},"Subject":{}}`,
      ),
    );
    expect(b.kind === "manifest" && [b.manifest.layers[0]!.annotations, b.manifest.subject?.digest]).toEqual([{ k: "v" }, d("f")]);
  });

  it("a list after a list is decoded element by element into the first one's elements", () => {
    const p = parseManifest(Buffer.from(`{${head},${config},"layers":[${sigLayer}],"Layers":[{"size":11}]}`));
    expect(p.kind === "manifest" && p.manifest.layers.map((l) => [l.digest, l.size, l.annotations])).toEqual([
      [d("a"), 11, { "dev.cosignproject.cosign/signature": "SIG" }],
    ]);
  });
});

describe("goImageConfig reads an image config as runtimes do", () => {
  it("a key in another case wins over the one before it: rootfs.diff_ids is what containerd reads", () => {
    const base = `sha256:${"b".repeat(64)}`;
    const real = `sha256:${"e".repeat(64)}`;
    const cfg = JSON.parse(
      `{"os":"linux","rootfs":{"type":"layers","diff_ids":["${base}"]},"RootFS":{"type":"layers","Diff_IDs":["${real}"]},"config":{"Labels":{"a":"1"},"labels":{"a":"2"}}}`,
    ) as Record<string, unknown>;
    const g = goImageConfig(cfg) as { rootfs: { diff_ids: string[] }; config: { Labels: Record<string, string> } };
    expect(g.rootfs.diff_ids).toEqual([real]);
    expect(g.config.Labels).toEqual({ a: "2" });
  });
});

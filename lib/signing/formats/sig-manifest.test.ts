import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../oci/digest";
import type { ImageManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { removeFromReferrersIndex } from "../../oci/push-referrer";
import { removeSignatureLayers } from "./sig-manifest";

const d = (c: string) => `sha256:${c.repeat(64)}` as const;
const layer = (c: string, extra: Record<string, unknown> = {}) => ({
  mediaType: MT.cosignSimpleSigning,
  size: 10,
  digest: d(c),
  annotations: { "dev.cosignproject.cosign/signature": `sig-${c}` },
  ...extra,
});

describe("removing signature layers from a cosign .sig manifest", () => {
  const existing = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, size: 1, digest: d("0") },
    // A field we do not model and an unusual descriptor field must survive untouched.
    annotations: { "x.other/tool": "kept" },
    layers: [layer("a", { urls: ["https://example.test/a"] }), layer("b"), layer("c")],
  } as unknown as ImageManifest;
  const config = {
    architecture: "",
    os: "",
    config: {},
    created: "0001-01-01T00:00:00Z",
    history: [{ created: "h-a" }, { created: "h-b" }, { created: "h-c" }],
    rootfs: { type: "layers", diff_ids: [d("a"), d("b"), d("c")] },
    extra: 1,
  };

  it("drops only the named layer, keeps the others byte-for-byte and in order, and keeps diff_ids and history consistent", () => {
    const out = removeSignatureLayers({ existing, existingConfig: config, remove: [d("b")] })!;
    expect(out.removed).toBe(1);
    const m = JSON.parse(out.manifest.toString("utf8"));
    expect(m.layers.map((l: unknown) => JSON.stringify(l))).toEqual([JSON.stringify(existing.layers[0]), JSON.stringify(existing.layers[2])]);
    expect(m.annotations).toEqual({ "x.other/tool": "kept" });
    const c = JSON.parse(out.config.toString("utf8"));
    expect(c.rootfs.diff_ids).toEqual([d("a"), d("c")]);
    expect(c.history).toEqual([{ created: "h-a" }, { created: "h-c" }]);
    expect(c.extra).toBe(1);
    expect(m.config.digest).toBe(sha256Digest(out.config));
    expect(m.config.size).toBe(out.config.byteLength);
  });

  it("returns null when the layer is not there (nothing to write), and can empty the manifest", () => {
    expect(removeSignatureLayers({ existing, existingConfig: config, remove: [d("f")] })).toBeNull();
    const all = removeSignatureLayers({ existing, existingConfig: null, remove: [d("a"), d("b"), d("c")] })!;
    expect(JSON.parse(all.manifest.toString("utf8")).layers).toEqual([]);
    expect(JSON.parse(all.config.toString("utf8")).rootfs.diff_ids).toEqual([]);
  });
});

describe("removing a referrer from the referrers fallback index", () => {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest: d("1"), size: 5, artifactType: "x", weird: true },
        { mediaType: MT.ociManifest, digest: d("2"), size: 6 },
      ],
      annotations: { k: "v" },
    }),
  );

  it("drops the entry, keeping the other entries and fields as they were", () => {
    const next = JSON.parse(removeFromReferrersIndex(index, d("2"))!.toString("utf8"));
    expect(next.manifests).toEqual([{ mediaType: MT.ociManifest, digest: d("1"), size: 5, artifactType: "x", weird: true }]);
    expect(next.annotations).toEqual({ k: "v" });
  });

  it("returns null when not listed and refuses something that is not an index", () => {
    expect(removeFromReferrersIndex(index, d("9"))).toBeNull();
    expect(() => removeFromReferrersIndex(Buffer.from("{}"), d("1"))).toThrow();
    expect(() => removeFromReferrersIndex(Buffer.from("nope"), d("1"))).toThrow();
  });
});

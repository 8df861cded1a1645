import { describe, expect, it } from "vitest";
import { sha256Digest } from "./digest";
import { imageManifestSchema, indexSchema } from "./manifest";
import { MT } from "./media-types";
import { addToReferrersIndex, buildReferrerManifest, EMPTY_CONFIG, removeFromReferrersIndex, type ReferrerDescriptor } from "./push-referrer";
import { referrersFallbackTag } from "./reference";

const SUBJECT = { mediaType: MT.ociManifest, digest: `sha256:${"1".repeat(64)}`, size: 1234 };
const BLOB = { mediaType: MT.sigstoreBundleV03, digest: `sha256:${"2".repeat(64)}`, size: 4321 };
const CREATED = new Date("2025-06-01T12:34:56.789Z");

function entry(n: number, extra: Partial<ReferrerDescriptor> = {}): ReferrerDescriptor {
  return {
    mediaType: MT.ociManifest,
    digest: `sha256:${String(n).repeat(64)}` as ReferrerDescriptor["digest"],
    size: 500 + n,
    artifactType: MT.sigstoreBundleV03,
    annotations: { "dev.sigstore.bundle.content": "dsse-envelope" },
    ...extra,
  };
}

describe("buildReferrerManifest", () => {
  it("writes an OCI 1.1 artifact manifest: empty config, the blob as the only layer, subject, artifactType, created", () => {
    const bytes = buildReferrerManifest({
      subject: SUBJECT,
      artifactType: MT.sigstoreBundleV03,
      blob: BLOB,
      annotations: { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" },
      created: CREATED,
    });
    const m = JSON.parse(bytes.toString("utf8"));
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      config: {
        mediaType: "application/vnd.oci.empty.v1+json",
        digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        size: 2,
        data: "e30=",
      },
      layers: [BLOB],
      subject: SUBJECT,
      annotations: {
        "dev.sigstore.bundle.content": "dsse-envelope",
        "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
        "org.opencontainers.image.created": "2025-06-01T12:34:56Z",
      },
    });
    expect(imageManifestSchema.safeParse(m).success).toBe(true);
  });

  it("uses the empty descriptor whose digest and data really are `{}`", () => {
    expect(sha256Digest("{}")).toBe(EMPTY_CONFIG.digest);
    expect(Buffer.from(EMPTY_CONFIG.data, "base64").toString()).toBe("{}");
  });

  it("keeps a creation time the caller gave, and is deterministic for the same input", () => {
    const opts = {
      subject: SUBJECT,
      artifactType: "application/spdx+json",
      blob: BLOB,
      annotations: { "org.opencontainers.image.created": "2020-01-01T00:00:00Z" },
    };
    const a = buildReferrerManifest(opts);
    expect(JSON.parse(a.toString()).annotations).toEqual({ "org.opencontainers.image.created": "2020-01-01T00:00:00Z" });
    expect(buildReferrerManifest(opts).equals(a)).toBe(true);
  });

  it("refuses a subject without a sha256 digest, a missing artifactType, or a negative size", () => {
    expect(() => buildReferrerManifest({ subject: { ...SUBJECT, digest: "latest" }, artifactType: "x", blob: BLOB })).toThrow(/subject\.digest/);
    expect(() => buildReferrerManifest({ subject: SUBJECT, artifactType: "", blob: BLOB })).toThrow(/artifactType/);
    expect(() => buildReferrerManifest({ subject: SUBJECT, artifactType: "x", blob: { ...BLOB, size: -1 } })).toThrow(/blob\.size/);
  });
});

describe("addToReferrersIndex (the sha256-<hex> fallback tag)", () => {
  it("starts an OCI index when the tag does not exist, with artifactType and annotations as the reader expects", () => {
    const bytes = addToReferrersIndex(null, entry(3))!;
    const idx = indexSchema.parse(JSON.parse(bytes.toString()));
    expect(idx.mediaType).toBe(MT.ociIndex);
    expect(idx.manifests).toEqual([entry(3)]);
  });

  it("appends to an existing index, keeps its other fields, and is a no-op when the entry is listed", () => {
    const existing = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [entry(4)], annotations: { keep: "me" } }));
    const next = JSON.parse(addToReferrersIndex(existing, entry(5))!.toString());
    expect(next.manifests.map((d: { digest: string }) => d.digest)).toEqual([entry(4).digest, entry(5).digest]);
    expect(next.annotations).toEqual({ keep: "me" });
    expect(addToReferrersIndex(Buffer.from(JSON.stringify(next)), entry(5))).toBeNull();
  });

  it("refuses to overwrite a tag that holds something other than an index", () => {
    const manifest = buildReferrerManifest({ subject: SUBJECT, artifactType: "x", blob: BLOB, created: CREATED });
    expect(() => addToReferrersIndex(manifest, entry(6))).toThrow(/not an image index/);
    expect(() => addToReferrersIndex(Buffer.from("<html>"), entry(6))).toThrow(/not JSON/);
  });

  it("is the tag lib/oci/referrers.ts reads", () => {
    expect(referrersFallbackTag(SUBJECT.digest as `sha256:${string}`)).toBe(`sha256-${"1".repeat(64)}`);
  });
});

describe("removeFromReferrersIndex reads the index as Go tools do", () => {
  it("takes an entry out whatever the case of its keys, and writes the index back with canonical keys", () => {
    // Found by review: listed under "Manifests" or "Digest", a revoked summary's referrer stayed visible to Go tools.
    const gone = sha256Digest("revoked summary referrer");
    const kept = sha256Digest("another referrer");
    const text = `{"schemaVersion":2,"mediaType":"${MT.ociIndex}","Manifests":[{"mediaType":"${MT.ociManifest}","Digest":"${gone}","size":1},{"mediaType":"${MT.ociManifest}","digest":"${kept}","size":2}]}`;
    const next = removeFromReferrersIndex(Buffer.from(text), gone);
    expect(next).not.toBeNull();
    const out = JSON.parse(next!.toString("utf8")) as { manifests: { digest: string }[] };
    expect(out.manifests.map((m) => m.digest)).toEqual([kept]);
    expect(removeFromReferrersIndex(Buffer.from(text), sha256Digest("not listed"))).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import { indexPlatforms, indexSchema, type Platform } from "../oci/manifest";
import { indexPlatformSubjects, platformScanCoverage } from "./platform-scan-coverage";

const INDEX = "sha256:index";
const platform = (digest: string, os: string, architecture: string, variant?: string): Platform => ({
  digest,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  size: 1,
  os,
  architecture,
  ...(variant ? { variant } : {}),
});
const platforms = [
  platform("sha256:amd", "linux", "amd64"),
  platform("sha256:arm", "linux", "arm64", "v8"),
  // buildx's attestation manifest (as sync records it): runs nowhere, so not a platform a scan must cover.
  { ...platform("sha256:att", "unknown", "unknown"), attestation: true as const },
];
const children = [
  { digest: "sha256:amd", configDigest: "sha256:amd-config" },
  { digest: "sha256:arm", configDigest: "sha256:arm-config" },
];
const subjects = indexPlatformSubjects(platforms, children);
const at = (h: number) => new Date(Date.UTC(2026, 11, 1, h));

describe("platformScanCoverage", () => {
  it("lists runnable platforms only, each named by its manifest and its config", () => {
    expect(subjects.map((p) => [p.name, [...p.digests]])).toEqual([
      ["linux/amd64", ["sha256:amd", "sha256:amd-config"]],
      ["linux/arm64/v8", ["sha256:arm", "sha256:arm-config"]],
    ]);
  });

  it("a scan of one platform leaves the other uncovered, and the index has no scan age", () => {
    expect(platformScanCoverage(INDEX, subjects, [{ subjectDigest: "sha256:amd-config", at: at(10) }])).toEqual({
      uncovered: ["linux/arm64/v8"],
      stalestAt: null,
    });
    expect(platformScanCoverage(INDEX, subjects, [])).toEqual({ uncovered: ["linux/amd64", "linux/arm64/v8"], stalestAt: null });
  });

  it("with every platform scanned, the scan age is the least recently scanned platform's newest scan", () => {
    const scans = [
      { subjectDigest: "sha256:amd", at: at(9) },
      { subjectDigest: "sha256:amd-config", at: at(12) },
      { subjectDigest: "sha256:arm-config", at: at(10) },
    ];
    expect(platformScanCoverage(INDEX, subjects, scans)).toEqual({ uncovered: [], stalestAt: at(10) });
  });

  it("a scan naming the index, or naming nothing, covers the index as a whole", () => {
    expect(platformScanCoverage(INDEX, subjects, [{ subjectDigest: INDEX, at: at(8) }])).toEqual({ uncovered: [], stalestAt: at(8) });
    expect(platformScanCoverage(INDEX, subjects, [{ subjectDigest: null, at: at(8) }])).toEqual({ uncovered: [], stalestAt: at(8) });
    // A whole-index scan older than a platform's own: that platform's newest counts for it.
    expect(
      platformScanCoverage(INDEX, subjects, [
        { subjectDigest: INDEX, at: at(8) },
        { subjectDigest: "sha256:arm", at: at(11) },
      ]),
    ).toEqual({ uncovered: [], stalestAt: at(8) });
  });

  it("a platform whose image was not synced is still named by its manifest digest", () => {
    const [amd] = indexPlatformSubjects([platform("sha256:amd", "linux", "amd64")], []);
    expect([...amd!.digests]).toEqual(["sha256:amd"]);
  });
});

const d = (c: string) => `sha256:${c.repeat(64)}`;
const entry = (digest: string, platform?: { os: string; architecture: string }, annotations?: Record<string, string>) => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest,
  size: 1,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});
const unknown = { os: "unknown", architecture: "unknown" };
const buildxMark = (of: string) => ({ "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": of });
const parsedIndex = (...manifests: ReturnType<typeof entry>[]) => indexSchema.parse({ schemaVersion: 2, manifests });

describe("which index entries are attestations", () => {
  it("an entry labelled unknown/unknown without buildx's annotation is a platform that needs a scan, named by its digest", () => {
    const idx = parsedIndex(entry(d("a"), { os: "linux", architecture: "amd64" }), entry(d("b"), unknown));
    const subjects = indexPlatformSubjects(indexPlatforms(idx), []);
    expect(subjects.map((p) => p.name)).toEqual(["linux/amd64", `${d("b")} (no platform stated)`]);
    expect(platformScanCoverage(INDEX, subjects, [{ subjectDigest: d("a"), at: at(1) }]).uncovered).toEqual([`${d("b")} (no platform stated)`]);
  });

  it("an entry with no platform at all is a platform too", () => {
    const idx = parsedIndex(entry(d("a"), { os: "linux", architecture: "amd64" }), entry(d("b")));
    expect(indexPlatformSubjects(indexPlatforms(idx), []).map((p) => p.name)).toEqual(["linux/amd64", `${d("b")} (no platform stated)`]);
  });

  it("buildx's attestation manifest (unknown/unknown, attestation-manifest, naming another entry) is not a platform", () => {
    const idx = parsedIndex(entry(d("a"), { os: "linux", architecture: "amd64" }), entry(d("c"), unknown, buildxMark(d("a"))));
    expect(indexPlatforms(idx)[1]).toMatchObject({ digest: d("c"), attestation: true });
    expect(indexPlatformSubjects(indexPlatforms(idx), []).map((p) => p.name)).toEqual(["linux/amd64"]);
  });

  it("the annotation alone is not enough: on a stated platform, naming itself or an entry not in the index, it is a platform", () => {
    const amd = entry(d("a"), { os: "linux", architecture: "amd64" });
    for (const idx of [
      parsedIndex(amd, entry(d("c"), { os: "linux", architecture: "arm64" }, buildxMark(d("a")))),
      parsedIndex(amd, entry(d("c"), unknown, buildxMark(d("c")))),
      parsedIndex(amd, entry(d("c"), unknown, buildxMark(d("f")))),
      parsedIndex(amd, entry(d("c"), unknown, { "vnd.docker.reference.type": "attestation-manifest" })),
      parsedIndex(amd, entry(d("c"), unknown, { ...buildxMark(d("a")), "vnd.docker.reference.type": "Attestation-Manifest" })),
    ]) {
      expect(indexPlatforms(idx).some((p) => p.attestation)).toBe(false);
      expect(indexPlatformSubjects(indexPlatforms(idx), [])).toHaveLength(2);
    }
  });
});

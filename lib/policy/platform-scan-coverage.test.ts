import { describe, expect, it } from "vitest";
import type { Platform } from "../oci/manifest";
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
  // buildx's attestation manifest: runs nowhere, so not a platform a scan must cover.
  platform("sha256:att", "unknown", "unknown"),
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

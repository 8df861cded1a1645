import { describe, expect, it } from "vitest";
import { compareVersions, normalizeEcosystem } from "./compare";
import { canonicalMaven } from "./maven";

/** Asserts a strictly increasing chain, every pair both ways. */
function expectAscending(eco: string, versions: string[]) {
  for (let i = 0; i < versions.length; i++) {
    for (let j = i + 1; j < versions.length; j++) {
      const a = versions[i]!;
      const b = versions[j]!;
      expect(compareVersions(eco, a, b), `${eco}: ${a} < ${b}`).toBeLessThan(0);
      expect(compareVersions(eco, b, a), `${eco}: ${b} > ${a}`).toBeGreaterThan(0);
    }
  }
}

function expectEqual(eco: string, a: string, b: string) {
  expect(compareVersions(eco, a, b), `${eco}: ${a} == ${b}`).toBe(0);
  expect(compareVersions(eco, b, a), `${eco}: ${b} == ${a}`).toBe(0);
}

describe("maven (ComparableVersion)", () => {
  it("orders a release after its release candidates and before the next patch", () => {
    expectAscending("maven", ["2.17.0-rc1", "2.17.0", "2.17.1"]);
    expectAscending("maven", ["2.0-beta9", "2.0-rc1", "2.0", "2.14.1", "2.15.0", "2.16.0", "2.17.0", "2.17.1"]);
  });

  it("treats trailing zeros and release qualifiers as nothing", () => {
    expectEqual("maven", "1.0", "1.0.0");
    expectEqual("maven", "1", "1.0");
    expectEqual("maven", "1", "1-0");
    expectEqual("maven", "1.0", "1.0-0");
    expectEqual("maven", "1", "1-ga");
    expectEqual("maven", "1.0", "1.0.Final");
    expectEqual("maven", "1.0.FINAL", "1");
    expectEqual("maven", "5.3.18.RELEASE", "5.3.18");
  });

  it("orders qualifiers alpha < beta < milestone < rc < snapshot < final < sp", () => {
    expectAscending("maven", ["1.0-alpha-1", "1.0-beta-1", "1.0-M1", "1.0-RC1", "1.0-SNAPSHOT", "1.0", "1.0-SP1"]);
    expectAscending("maven", ["1.0-alpha", "1.0-beta", "1.0-rc", "1.0.Final", "1.0-sp"]);
  });

  it("knows the short and alias qualifiers, case-insensitively", () => {
    expectEqual("maven", "1a1", "1alpha1");
    expectEqual("maven", "1b2", "1beta2");
    expectEqual("maven", "1m3", "1milestone3");
    expectEqual("maven", "1cr", "1rc");
    expectEqual("maven", "1Cr", "1Rc");
    expectEqual("maven", "1-abcdefghijklmnopqrstuvwxyz", "1-ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    expectEqual("maven", "1m3", "1MILESTONE3");
  });

  it("matches Maven's own ordering lists (ComparableVersionTest)", () => {
    expectAscending("maven", [
      "1-alpha2snapshot",
      "1-alpha2",
      "1-alpha-123",
      "1-beta-2",
      "1-beta123",
      "1-m2",
      "1-m11",
      "1-rc",
      "1-cr2",
      "1-rc123",
      "1-SNAPSHOT",
      "1",
      "1-sp",
      "1-sp2",
      "1-sp123",
      "1-abc",
      "1-def",
      "1-pom-1",
      "1-1-snapshot",
      "1-1",
      "1-2",
      "1-123",
    ]);
    expectAscending("maven", [
      "2.0",
      "2-1",
      "2.0.a",
      "2.0.0.a",
      "2.0.2",
      "2.0.123",
      "2.1.0",
      "2.1-a",
      "2.1b",
      "2.1-c",
      "2.1-1",
      "2.1.0.1",
      "2.2",
      "2.123",
      "11.a2",
      "11.a11",
      "11.b2",
      "11.b11",
      "11.m2",
      "11.m11",
      "11",
      "11.a",
      "11b",
      "11c",
      "11m",
    ]);
  });

  it("matches Maven's pairwise comparisons", () => {
    const pairs: [string, string][] = [
      ["1", "2"],
      ["1.5", "2"],
      ["1", "2.5"],
      ["1.0", "1.1"],
      ["1.1", "1.2"],
      ["1.0.0", "1.1"],
      ["1.0.1", "1.1"],
      ["1.1", "1.2.0"],
      ["1.0-alpha-1", "1.0"],
      ["1.0-alpha-1", "1.0-alpha-2"],
      ["1.0-alpha-1", "1.0-beta-1"],
      ["1.0-beta-1", "1.0-SNAPSHOT"],
      ["1.0-SNAPSHOT", "1.0"],
      ["1.0-alpha-1-SNAPSHOT", "1.0-alpha-1"],
      ["1.0", "1.0-1"],
      ["1.0-1", "1.0-2"],
      ["1.0.0", "1.0-1"],
      ["2.0-1", "2.0.1"],
      ["2.0.1-klm", "2.0.1-lmn"],
      ["2.0.1", "2.0.1-xyz"],
      ["2.0.1", "2.0.1-123"],
      ["2.0.1-xyz", "2.0.1-123"],
    ];
    for (const [a, b] of pairs) expectAscending("maven", [a, b]);
  });

  it("compares real-world versions: Jetty, Jackson, large numbers", () => {
    expectAscending("maven", ["9.4.43.v20210629", "9.4.44.v20210927", "10.0.0"]);
    expectAscending("maven", ["2.12.6", "2.12.6.1", "2.12.7", "2.13.0-rc1", "2.13.0"]);
    expectAscending("maven", ["1.20230101", "1.99999999999999999999"]);
    expectEqual("maven", "1.01", "1.1");
  });

  it("gives Maven's canonical forms", () => {
    expect(canonicalMaven("1.0-alpha-1")).toBe("1-alpha-1");
    expect(canonicalMaven("1.0.0")).toBe("1");
    expect(canonicalMaven("2.17.0-rc1")).toBe("2.17-rc-1");
  });
});

describe("pypi (PEP 440)", () => {
  it("orders dev, pre, final and post releases", () => {
    expectAscending("pypi", ["1.0.dev0", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.1"]);
  });
  it("normalizes spellings and honours epochs and local versions", () => {
    expectEqual("pypi", "1.0", "1.0.0");
    expectEqual("pypi", "1.0-rc1", "1.0rc1");
    expectEqual("pypi", "1.0alpha1", "1.0a1");
    expectAscending("pypi", ["2.0", "1!0.1"]);
    expectAscending("pypi", ["1.0", "1.0+local.1"]);
    expectAscending("pypi", ["3.5.3", "4.0.0"]);
  });
});

describe("deb (dpkg)", () => {
  it("compares epochs first", () => {
    expectAscending("deb", ["2.0", "1:1.0"]);
    expectAscending("deb", ["1:2.0", "2:0.1"]);
  });
  it("sorts ~ before the end of the string and + after it", () => {
    expectAscending("deb", ["1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0", "1.0+b1", "1.0.1"]);
  });
  it("compares revisions and real Debian security updates", () => {
    expectAscending("deb", ["1.0-1", "1.0-2", "1.0-10"]);
    expectAscending("deb", ["2.4.47+dfsg-3+deb10u4", "2.4.47+dfsg-3+deb10u5", "2.4.47+dfsg-3+deb10u10"]);
    expectAscending("deb", ["3.0.11-1~deb12u2", "3.0.11-1~deb12u3", "3.0.11-1", "3.0.13-1~deb12u1"]);
    expectAscending("deb", ["3.6.7-4+deb10u5", "3.6.7-4+deb10u7"]);
    expectAscending("deb", ["7.6p1-4", "7.6p2-1", "7.9p1-10+deb10u2"]);
  });
  it("treats a missing revision like 0 and leading zeros as numbers", () => {
    expectEqual("deb", "1.0", "1.0-0");
    expectEqual("deb", "1.01", "1.1");
    expectEqual("deb", "0:1.0", "1.0");
  });
});

describe("rpm (rpmvercmp)", () => {
  it("compares epoch, version, then release", () => {
    expectAscending("rpm", ["1.0-1.el8", "1.0-2.el8", "1.0.1-1.el8"]);
    expectAscending("rpm", ["2.0-1", "1:1.0-1"]);
    expectAscending("rpm", ["1:1.0.2k-16.el7", "1:1.0.2k-19.el7"]);
    expectAscending("rpm", ["4.2.46-31.el7", "4.2.46-34.el7"]);
  });
  it("orders ~ before and ^ after a release", () => {
    expectAscending("rpm", ["1.0~rc1", "1.0", "1.0^git1", "1.0.1"]);
    expectAscending("rpm", ["1.0~rc1-1", "1.0~rc2-1", "1.0-1"]);
  });
  it("puts numbers above letters and longer versions above their prefixes", () => {
    expectAscending("rpm", ["1.0a", "1.0.1"]);
    expectAscending("rpm", ["1.0", "1.0a", "1.0.0"]);
    expectAscending("rpm", ["2.02-0.86.el7", "2.02-0.87.el7"]);
    expectEqual("rpm", "1.01", "1.1");
    expectEqual("rpm", "1.0_1", "1.0.1");
  });
  it("ignores the release when one side has none", () => {
    expectEqual("rpm", "3.0.7", "3.0.7-1.el9");
    expectAscending("rpm", ["3.0.6-5.el9", "3.0.7"]);
  });
});

describe("apk (apk-tools)", () => {
  it("orders suffixes and revisions", () => {
    expectAscending("apk", ["1.2.3_rc1", "1.2.3", "1.2.3-r1", "1.2.3-r2", "1.2.3.1"]);
    expectAscending("apk", ["1.2.3_alpha", "1.2.3_alpha2", "1.2.3_beta", "1.2.3_pre", "1.2.3_rc", "1.2.3", "1.2.3_p1", "1.2.3_p2"]);
    expectAscending("apk", ["1.2.3_cvs", "1.2.3_svn", "1.2.3_git", "1.2.3_hg", "1.2.3_p"]);
  });
  it("puts a letter after the number above it", () => {
    expectAscending("apk", ["1.1.1c-r0", "1.1.1d-r0", "1.1.1k-r0", "1.1.1q-r0"]);
    expectAscending("apk", ["1.2.3", "1.2.3a", "1.2.4"]);
  });
  it("compares real Alpine package versions", () => {
    expectAscending("apk", ["1.35.0-r17", "1.35.0-r29", "1.36.0-r0"]);
    expectAscending("apk", ["2.12.9-r3", "2.12.10-r1"]);
    expectAscending("apk", ["3.0.7-r0", "3.0.8-r0", "3.1.0-r0"]);
    expectAscending("apk", ["20220614-r0", "20220614-r2", "20230506-r0"]);
  });
  it("compares a component with leading zeros as a fraction", () => {
    expectAscending("apk", ["1.02", "1.1"]);
    expectAscending("apk", ["1.002", "1.02"]);
    expectEqual("apk", "1.2.3-r0", "1.2.3-r0");
  });
});

describe("npm, golang, cargo (semver)", () => {
  it("orders pre-releases before the release", () => {
    expectAscending("npm", ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"]);
    expectAscending("npm", ["4.17.19", "4.17.20", "4.17.21"]);
  });
  it("reads a partial version as .0 and ignores build metadata", () => {
    expectEqual("npm", "4.17", "4.17.0");
    expectEqual("npm", "1.0.0+build.1", "1.0.0");
    expectEqual("golang", "v1.2.3", "1.2.3");
    expectEqual("golang", "v2.0.0+incompatible", "v2.0.0");
    expectAscending("golang", ["v0.0.0-20210101000000-abcdef123456", "v0.0.1", "v1.20.0", "v1.21.0"]);
    expectAscending("cargo", ["0.9.9", "0.10.0", "1.0.0-beta.1", "1.0.0"]);
  });
});

describe("generic and ecosystem names", () => {
  it("falls back to a natural ordering", () => {
    expectAscending("generic", ["1.0-rc1", "1.0", "1.0.1", "1.9", "1.10", "v2.0"]);
    expectAscending("gem", ["6.1.7.3", "7.0.0.rc1", "7.0.0", "7.0.4.1"]);
    expectEqual("generic", "v1.0", "1.0");
  });
  it("maps purl types, scanner types and distro names to their rules", () => {
    expect(normalizeEcosystem("alpine")).toBe("apk");
    expect(normalizeEcosystem("Debian")).toBe("deb");
    expect(normalizeEcosystem("centos")).toBe("rpm");
    expect(normalizeEcosystem("python")).toBe("pypi");
    expect(normalizeEcosystem("go")).toBe("golang");
    expect(normalizeEcosystem("gem")).toBe("generic");
    expect(normalizeEcosystem(undefined)).toBe("generic");
    expect(normalizeEcosystem("__proto__")).toBe("generic");
    expect(normalizeEcosystem("constructor")).toBe("generic");
    // the same strings order differently by ecosystem: that is the point
    expect(compareVersions("deb", "1.0~rc1", "1.0")).toBeLessThan(0);
    expect(compareVersions("apk", "1.2.3_rc1", "1.2.3")).toBeLessThan(0);
    expect(compareVersions("maven", "1.0-rc1", "1.0")).toBeLessThan(0);
  });
  it("does not throw on versions an ecosystem cannot parse", () => {
    expect(() => compareVersions("pypi", "not a version", "1.0")).not.toThrow();
    expect(() => compareVersions("npm", "latest", "1.0.0")).not.toThrow();
    expect(compareVersions("pypi", "1.0", "1.0")).toBe(0);
  });
});

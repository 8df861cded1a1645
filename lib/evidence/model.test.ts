import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseEvidence } from "./detect";
import { ecosystemFromPurl, mergeFindings, normalizeDigest, normalizeSeverity, purlType, type Finding } from "./model";

const dir = fileURLToPath(new URL("./testdata/", import.meta.url));

/** A Grype report of the same image as the Trivy fixture: one CVE both found, one GHSA for it, one of its own. */
function grypeOfTheSameImage(): string {
  const pkg = { name: "libcrypto1.1", version: "1.1.1c-r0", type: "apk", purl: "pkg:apk/alpine/libcrypto1.1@1.1.1c-r0?arch=x86_64&distro=3.10.2" };
  return JSON.stringify({
    matches: [
      {
        vulnerability: {
          id: "CVE-2019-1549",
          severity: "High",
          urls: ["https://example.org/CVE-2019-1549"],
          cvss: [{ version: "3.1", vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", metrics: { baseScore: 7.5 } }],
          fix: { versions: ["1.1.1d-r0"], state: "fixed" },
        },
        relatedVulnerabilities: [],
        matchDetails: [],
        artifact: pkg,
      },
      {
        // the same vulnerability under its GHSA id, linked to the CVE
        vulnerability: { id: "GHSA-xxxx-1551", severity: "Medium", fix: { versions: [], state: "unknown" } },
        relatedVulnerabilities: [{ id: "CVE-2019-1551", severity: "Medium" }],
        matchDetails: [],
        artifact: pkg,
      },
      {
        vulnerability: { id: "CVE-2099-0001", severity: "Low", fix: { versions: [], state: "not-fixed" } },
        relatedVulnerabilities: [],
        matchDetails: [],
        artifact: pkg,
      },
    ],
    descriptor: { name: "grype", version: "0.74.0" },
  });
}

describe("mergeFindings", () => {
  it("returns a finding reported by two scanners once, with both sources", () => {
    const trivy = parseEvidence(readFileSync(dir + "trivy-alpine-3.10-schema2.json"));
    const grype = parseEvidence(grypeOfTheSameImage());
    const merged = mergeFindings([trivy.findings, grype.findings]);
    // 4 from Trivy + 3 from Grype, of which 2 are the same as Trivy's
    expect(trivy.findings).toHaveLength(4);
    expect(merged).toHaveLength(5);

    const both = merged.find((f) => f.id === "CVE-2019-1549" && f.package === "libcrypto1.1")!;
    expect(both.sources).toEqual(["trivy", "grype"]);
    expect(both.reports.map((r) => [r.source, r.severity])).toEqual([
      ["trivy", "medium"],
      ["grype", "high"],
    ]);
    expect(both.severity).toBe("high"); // the highest reported
    expect(both.cvss?.score).toBe(7.5);
    expect(both.fixAvailable).toBe(true);
    expect(both.urls).toEqual(expect.arrayContaining(["https://example.org/CVE-2019-1549", "https://avd.aquasec.com/nvd/cve-2019-1549"]));

    // GHSA in one, CVE in the other: one finding, under the CVE id, with the GHSA as an alias
    const alias = merged.find((f) => f.aliases.includes("GHSA-xxxx-1551"))!;
    expect(alias.id).toBe("CVE-2019-1551");
    expect(alias.sources).toEqual(["trivy", "grype"]);

    const onlyGrype = merged.find((f) => f.id === "CVE-2099-0001")!;
    expect(onlyGrype.sources).toEqual(["grype"]);
    // Trivy's other libssl1.1 findings are a different package: not merged
    expect(merged.filter((f) => f.package === "libssl1.1")).toHaveLength(2);
  });

  it("keeps the same CVE in different packages or installed versions apart", () => {
    const base: Finding = {
      id: "CVE-1",
      aliases: [],
      severity: "low",
      package: "a",
      installedVersion: "1.0",
      fixAvailable: false,
      status: "affected",
      source: "trivy",
    };
    const merged = mergeFindings([[base, { ...base, package: "b" }], [{ ...base, installedVersion: "2.0", source: "grype" }]]);
    expect(merged).toHaveLength(3);
  });

  it("chooses the most cautious status and keeps each report's own", () => {
    const base: Finding = {
      id: "CVE-2",
      aliases: [],
      severity: "unknown",
      package: "A",
      installedVersion: "1",
      fixAvailable: false,
      status: "not_affected",
      statusDetail: "vex",
      source: "vex",
    };
    const [m] = mergeFindings([[base], [{ ...base, package: "a", status: "affected", statusDetail: undefined, severity: "medium", source: "grype" }]]);
    expect(m!.status).toBe("affected");
    expect(m!.severity).toBe("medium");
    expect(m!.reports.map((r) => r.status)).toEqual(["not_affected", "affected"]);
    expect(m!.source).toBe("vex, grype");
  });

  it("links findings transitively through aliases and dedupes within one list", () => {
    const f = (id: string, aliases: string[], source: string): Finding => ({
      id,
      aliases,
      severity: "high",
      package: "p",
      installedVersion: "1",
      fixAvailable: false,
      status: "affected",
      source,
    });
    const merged = mergeFindings([[f("GHSA-1", ["CVE-2020-9999"], "grype"), f("GHSA-1", [], "grype")], [f("OSV-1", ["CVE-2020-9999"], "osv")]]);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.id).toBe("CVE-2020-9999");
    expect(merged[0]!.aliases.sort()).toEqual(["GHSA-1", "OSV-1"]);
    expect(merged[0]!.sources).toEqual(["grype", "osv"]);
  });
});

describe("helpers", () => {
  it("derives ecosystems from purl types", () => {
    expect(ecosystemFromPurl("pkg:alpine/busybox@1.0")).toBe("apk");
    expect(ecosystemFromPurl("pkg:apk/alpine/busybox@1.0")).toBe("apk");
    expect(ecosystemFromPurl("pkg:maven/org.a/b@1")).toBe("maven");
    expect(ecosystemFromPurl("pkg:PyPI/django@4")).toBe("pypi");
    expect(ecosystemFromPurl("pkg:golang/github.com/a/b@v1")).toBe("golang");
    expect(ecosystemFromPurl("pkg:gem/rails@7")).toBe("gem");
    expect(ecosystemFromPurl("not a purl")).toBeUndefined();
    expect(purlType("pkg:npm")).toBeUndefined();
    expect(purlType("pkg://npm/x")).toBe("npm");
  });
  it("normalizes severities and digests", () => {
    expect(normalizeSeverity("CRITICAL")).toBe("critical");
    expect(normalizeSeverity("Moderate")).toBe("medium");
    expect(normalizeSeverity("Negligible")).toBe("negligible");
    expect(normalizeSeverity("whatever")).toBe("unknown");
    expect(normalizeDigest("sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789")).toBe(
      "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
    );
    expect(normalizeDigest("latest")).toBeUndefined();
  });
});

describe("untrusted keys", () => {
  it("does not read Object's members for prototype names", () => {
    expect(normalizeSeverity("__proto__")).toBe("unknown");
    expect(normalizeSeverity("constructor")).toBe("unknown");
    expect(ecosystemFromPurl("pkg:constructor/x@1")).toBe("constructor");
    const raw = JSON.parse(readFileSync(dir + "trivy-alpine-3.10-schema2.json", "utf8"));
    raw.Results[0].Vulnerabilities[0].Status = "constructor";
    raw.Results[0].Vulnerabilities[1].Status = "__proto__";
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.findings[0]!.status).toBe("unknown");
    expect(ev.findings[1]!.status).toBe("unknown");
  });
});

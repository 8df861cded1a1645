import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { EvidenceError, parseEvidence, parseEvidenceAll, parseEvidenceStream } from "./detect";
import type { ParsedEvidence } from "./model";

// Real tool outputs, copied into testdata/ (see testdata/README.md). Expected counts are computed from the raw
// JSON in each test, independently of the parser.
const dir = fileURLToPath(new URL("./testdata/", import.meta.url));
const bytes = (f: string) => readFileSync(dir + f);
const json = (f: string): any => JSON.parse(bytes(f).toString("utf8"));
const b64 = (s: string) => Buffer.from(s, "base64");

function refused(input: Buffer | string, code: EvidenceError["code"]): EvidenceError {
  try {
    parseEvidence(input);
  } catch (e) {
    expect(e).toBeInstanceOf(EvidenceError);
    expect((e as EvidenceError).code).toBe(code);
    return e as EvidenceError;
  }
  throw new Error("expected the document to be refused");
}

describe("Trivy JSON", () => {
  it("reads every vulnerability of a recent report, field for field", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    const vulns: any[] = raw.Results.flatMap((r: any) => r.Vulnerabilities ?? []);
    const ev = parseEvidence(bytes("trivy-alpine-3.10-schema2.json"));
    expect(ev.format).toBe("trivy");
    expect(ev.kind).toBe("scan");
    expect(ev.findings).toHaveLength(vulns.length);
    expect(ev.findings).toHaveLength(4);
    expect(ev.components).toHaveLength(0); // no Packages without --list-all-pkgs
    expect(ev.scannedAt).toBe(raw.CreatedAt);
    expect(ev.tool).toEqual({ name: "trivy" });
    vulns.forEach((v, i) => {
      const f = ev.findings[i]!;
      expect(f.id).toBe(v.VulnerabilityID);
      expect(f.package).toBe(v.PkgName);
      expect(f.purl).toBe(v.PkgIdentifier.PURL);
      expect(f.installedVersion).toBe(v.InstalledVersion);
      expect(f.fixedVersion).toBe(v.FixedVersion);
      expect(f.fixAvailable).toBe(true);
      expect(f.severity).toBe(v.Severity.toLowerCase());
      expect(f.title).toBe(v.Title);
      expect(f.source).toBe("trivy");
      // Trivy's "fixed" status means a fix exists: the installed package is still affected.
      expect(v.Status).toBe("fixed");
      expect(f.status).toBe("affected");
      expect(f.urls).toContain(v.PrimaryURL);
    });
    const first = ev.findings[0]!;
    expect(first.cvss).toEqual({ score: vulns[0].CVSS.nvd.V3Score, vector: vulns[0].CVSS.nvd.V3Vector, version: "3.1" });
  });

  it("names the image config digest (ImageID) as its subject", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    const ev = parseEvidence(bytes("trivy-alpine-3.10-schema2.json"));
    expect(ev.subjects).toEqual([{ digest: raw.Metadata.ImageID, name: raw.ArtifactName, kind: "config" }]);
  });

  it("names RepoDigests as manifest digests and ImageID as the config digest", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    const manifest = "sha256:e7d88de73db3d3fd9b2d63aa7f447a10fd0220b7cbf39803c803f2af9ba256b3";
    raw.Metadata.RepoDigests = [`alpine@${manifest}`];
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.subjects).toEqual([
      { digest: raw.Metadata.ImageID, name: raw.ArtifactName, kind: "config" },
      { digest: manifest, name: "alpine", kind: "manifest" },
    ]);
  });

  it("reads a 2021-era report: lang-pkgs, a result without Vulnerabilities, findings without CVSS", () => {
    const raw = json("trivy-teamdojo-schema2.json");
    const vulns: any[] = raw.Results.flatMap((r: any) => r.Vulnerabilities ?? []);
    expect(raw.Results.some((r: object) => !("Vulnerabilities" in r))).toBe(true);
    const ev = parseEvidence(bytes("trivy-teamdojo-schema2.json"));
    expect(ev.findings).toHaveLength(vulns.length);
    expect(ev.findings).toHaveLength(5);
    expect(ev.findings.map((f) => f.id)).toEqual(vulns.map((v) => v.VulnerabilityID));
    const noCvss = vulns.findIndex((v) => !v.CVSS);
    expect(noCvss).toBeGreaterThanOrEqual(0);
    expect(ev.findings[noCvss]!.cvss).toBeUndefined();
    expect(ev.subjects).toEqual([]); // no ImageID, no RepoDigests
    expect(ev.scannedAt).toBeUndefined();
  });

  it("takes a report with no Results as a clean scan, not an error", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    delete raw.Results;
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.format).toBe("trivy");
    expect(ev.findings).toEqual([]);
    expect(ev.components).toEqual([]);
    expect(ev.subjects).toHaveLength(1);
  });

  it("reads packages as components when the report lists them", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    raw.Results[0].Packages = [
      {
        Name: "musl",
        Version: "1.1.22",
        Release: "r3",
        Licenses: ["MIT"],
        Identifier: { PURL: "pkg:apk/alpine/musl@1.1.22-r3" },
        Layer: { DiffID: "sha256:03901b4a2ea88eeaad62dbe59b072b28b6efa00491962b8741081c5df50c65e0" },
      },
      { Name: "bash", Version: "4.2.46", Release: "31.el7", Epoch: 1 },
    ];
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.components).toEqual([
      {
        name: "musl",
        version: "1.1.22-r3",
        purl: "pkg:apk/alpine/musl@1.1.22-r3",
        type: "os-pkgs",
        licenses: ["MIT"],
        layer: "sha256:03901b4a2ea88eeaad62dbe59b072b28b6efa00491962b8741081c5df50c65e0",
        ecosystem: "apk",
      },
      { name: "bash", version: "1:4.2.46-31.el7", type: "os-pkgs", licenses: [], ecosystem: "apk" },
    ]);
  });

  it("refuses another SchemaVersion and lists bad fields", () => {
    const raw = json("trivy-alpine-3.10-schema2.json");
    expect(refused(JSON.stringify({ ...raw, SchemaVersion: 3 }), "INVALID_DOCUMENT").message).toMatch(/SchemaVersion 3 is not supported/);
    raw.Results[0].Vulnerabilities[1].PkgName = 42;
    delete raw.Results[0].Vulnerabilities[2].VulnerabilityID;
    const e = refused(JSON.stringify(raw), "INVALID_DOCUMENT");
    expect(e.message).toContain("Trivy: ");
    expect(e.issues).toEqual([
      "Results[0].Vulnerabilities[1].PkgName should be a string, not a number",
      "Results[0].Vulnerabilities[2].VulnerabilityID is missing",
    ]);
  });
});

describe("Grype JSON", () => {
  it("reads every match of a current report, with GHSA ↔ CVE aliases", () => {
    const raw = json("grype-npm-lockfiles.json");
    const ev = parseEvidence(bytes("grype-npm-lockfiles.json"));
    expect(ev.format).toBe("grype");
    expect(ev.kind).toBe("scan");
    expect(ev.findings).toHaveLength(raw.matches.length);
    expect(ev.findings).toHaveLength(9);
    expect(ev.tool).toEqual({ name: "grype", version: raw.descriptor.version });
    raw.matches.forEach((m: any, i: number) => {
      const f = ev.findings[i]!;
      expect(f.id).toBe(m.vulnerability.id);
      expect(f.package).toBe(m.artifact.name);
      expect(f.installedVersion).toBe(m.artifact.version);
      expect(f.purl).toBe(m.artifact.purl);
      expect(f.severity).toBe(m.vulnerability.severity.toLowerCase());
      expect(f.fixAvailable).toBe(false);
      expect(f.status).toBe("affected");
    });
    const ghsa = ev.findings.find((f) => f.id === "GHSA-8v27-2fg9-7h62")!;
    expect(ghsa.aliases).toEqual(["CVE-2021-23334"]);
    expect(ghsa.severity).toBe("critical");
    expect(ghsa.cvss).toBeUndefined(); // empty cvss in both records
    expect(ghsa.statusDetail).toBe("grype: fix not-fixed");
    const redis = ev.findings.find((f) => f.package === "redis")!;
    expect(redis.purl).toBe("pkg:pypi/redis@3.5.3");
  });

  it("reads the 2021 shape: cvssV2, fixedInVersion, links, matchDetails as an object", () => {
    const raw = json("grype-0.7.0-debian-excerpt.json");
    expect(Array.isArray(raw.matches[0].matchDetails)).toBe(false);
    const ev = parseEvidence(bytes("grype-0.7.0-debian-excerpt.json"));
    expect(ev.findings).toHaveLength(raw.matches.length);
    const [a, b] = ev.findings;
    expect(a).toMatchObject({
      id: "CVE-2011-3389",
      package: "libgnutls-openssl27",
      installedVersion: "3.6.7-4+deb10u5",
      fixAvailable: false,
      severity: "medium",
    });
    expect(a!.cvss).toEqual({ score: 4.3, vector: "AV:N/AC:M/Au:N/C:P/I:N/A:N", version: "2.0" });
    expect(a!.urls).toEqual(["https://security-tracker.debian.org/tracker/CVE-2011-3389"]);
    expect(b).toMatchObject({ id: "CVE-2020-36221", fixedVersion: "2.4.47+dfsg-3+deb10u5", fixAvailable: true });
    expect(ev.tool).toEqual({ name: "grype", version: "0.7.0" });
  });

  it("names the scanned image's manifest and config digests", () => {
    const raw = json("grype-npm-lockfiles.json");
    raw.source = {
      type: "image",
      target: {
        userInput: "alpine:3.16",
        imageID: "sha256:9c6f0724472873bb50a2ae67a9e7adcb57673a183cea8b06eb778dca859181b5",
        manifestDigest: "sha256:1304f174557314a7ed9eddb4eab12fed12cb0cd9809e4c28f29af86979a3c870",
        repoDigests: ["alpine@sha256:bc41182d7ef5ffc53a40b044e725193bc10142a1243f395ee852a8d9730fc2ad"],
      },
    };
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.subjects).toEqual([
      { digest: raw.source.target.manifestDigest, name: "alpine:3.16", kind: "manifest" },
      { digest: raw.source.target.imageID, name: "alpine:3.16", kind: "config" },
      { digest: "sha256:bc41182d7ef5ffc53a40b044e725193bc10142a1243f395ee852a8d9730fc2ad", name: "alpine", kind: "manifest" },
    ]);
  });
});

describe("CycloneDX", () => {
  it("reads every component of a Syft SBOM, with purl ecosystems, licenses and layers", () => {
    const raw = json("syft-alpine-3.16-cyclonedx-1.4.json");
    const ev = parseEvidence(bytes("syft-alpine-3.16-cyclonedx-1.4.json"));
    expect(ev.format).toBe("cyclonedx");
    expect(ev.kind).toBe("sbom");
    expect(ev.components).toHaveLength(raw.components.length);
    expect(ev.components).toHaveLength(15);
    expect(ev.findings).toEqual([]);
    raw.components.forEach((c: any, i: number) => {
      const got = ev.components[i]!;
      expect(got.name).toBe(c.name);
      expect(got.version).toBe(c.version);
      expect(got.purl).toBe(c.purl);
      expect(got.type).toBe(c.type);
      expect(got.licenses).toEqual((c.licenses ?? []).map((l: any) => l.license.id));
    });
    const busybox = ev.components.find((c) => c.name === "busybox")!;
    expect(busybox.ecosystem).toBe("apk"); // pkg:alpine/… (Syft's old purl type)
    expect(busybox.layer).toBe("sha256:994393dc58e7931862558d06e46aa2bb17487044f670f310dffe1d24e4d1eec7");
    expect(busybox.purl).toBe("pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2");
    const os = ev.components.find((c) => c.type === "operating-system")!;
    expect(os).toEqual({ name: "alpine", version: "3.16.2", type: "operating-system", licenses: [] });
    expect(ev.tool).toEqual({ name: "syft", version: "0.58.0" });
    expect(ev.scannedAt).toBe(raw.metadata.timestamp);
  });

  it("keeps UTF-8 text intact", () => {
    const ev = parseEvidence(bytes("syft-alpine-3.16-cyclonedx-1.4.json"));
    expect(ev.components.length).toBeGreaterThan(0);
    const text = bytes("syft-alpine-3.16-cyclonedx-1.4.json").toString("utf8");
    expect(text).toContain("Sören");
  });

  it("names the manifest digest Syft writes as the root component's version", () => {
    const raw = json("syft-alpine-3.16-cyclonedx-1.4.json");
    const ev = parseEvidence(bytes("syft-alpine-3.16-cyclonedx-1.4.json"));
    expect(ev.subjects).toEqual([{ digest: raw.metadata.component.version, name: raw.metadata.component.name, kind: "manifest" }]);
  });

  it("names Trivy's ImageID, RepoDigest and pkg:oci purl subjects", () => {
    const raw = json("syft-alpine-3.16-cyclonedx-1.4.json");
    const manifest = "sha256:1304f174557314a7ed9eddb4eab12fed12cb0cd9809e4c28f29af86979a3c870";
    const config = "sha256:9c6f0724472873bb50a2ae67a9e7adcb57673a183cea8b06eb778dca859181b5";
    raw.metadata.component = {
      "bom-ref": `pkg:oci/alpine@${encodeURIComponent(manifest)}?repository_url=index.docker.io%2Flibrary%2Falpine`,
      type: "container",
      name: "alpine:3.16",
      properties: [
        { name: "aquasecurity:trivy:ImageID", value: config },
        { name: "aquasecurity:trivy:RepoDigest", value: `alpine@${manifest}` },
      ],
    };
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.subjects).toEqual([
      { digest: manifest, name: "alpine:3.16", kind: "manifest" },
      { digest: config, name: "alpine:3.16", kind: "config" },
    ]);
  });

  it("reads a vulnerability document: BOM-Link refs, multi-source ratings, fixes from the recommendation", () => {
    const raw = json("trivy-centos-7-cyclonedx-vex.json");
    const expected = raw.vulnerabilities.reduce((n: number, v: any) => n + Math.max(1, v.affects?.length ?? 0), 0);
    const ev = parseEvidence(bytes("trivy-centos-7-cyclonedx-vex.json"));
    expect(ev.format).toBe("cyclonedx");
    expect(ev.kind).toBe("scan");
    expect(ev.components).toHaveLength(0);
    expect(ev.findings).toHaveLength(expected);
    expect(ev.findings).toHaveLength(3);
    expect(ev.findings.map((f) => f.id)).toEqual(["CVE-2019-18276", "CVE-2019-1559", "CVE-2018-0734"]);
    const [bash, openssl] = ev.findings;
    expect(bash).toMatchObject({
      package: "bash",
      purl: "pkg:rpm/centos/bash@4.2.46-31.el7?arch=x86_64&distro=centos-7.6.1810",
      installedVersion: "4.2.46-31.el7",
      fixAvailable: false,
      status: "affected",
      source: "trivy",
      severity: "high", // sources disagree (nvd high, redhat low): the highest stated
    });
    expect(bash!.cvss).toEqual({ score: 7.8, vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", version: "3.1" });
    expect(openssl).toMatchObject({
      package: "openssl-libs",
      installedVersion: "1:1.0.2k-16.el7",
      fixedVersion: "1:1.0.2k-19.el7",
      fixAvailable: true,
      severity: "medium",
    });
    expect(ev.subjects).toEqual([]); // the root is a BOM-Link urn, not a digest
  });

  it("reads VEX analysis states", () => {
    const raw = json("trivy-centos-7-cyclonedx-vex.json");
    raw.vulnerabilities[0].analysis = { state: "not_affected", justification: "code_not_reachable", detail: "bash is not run with elevated privileges" };
    raw.vulnerabilities[1].analysis = { state: "in_triage" };
    raw.vulnerabilities[2].analysis = { state: "resolved" };
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.kind).toBe("vex");
    expect(ev.findings.map((f) => f.status)).toEqual(["not_affected", "under_investigation", "fixed"]);
    expect(ev.findings[0]!.statusDetail).toBe("not_affected: code_not_reachable: bash is not run with elevated privileges");
  });

  it("resolves local bom-refs and reads 1.6 tools, nested components and unaffected versions", () => {
    const doc = {
      bomFormat: "CycloneDX",
      specVersion: "1.6",
      metadata: { timestamp: "2024-05-01T00:00:00Z", tools: { components: [{ type: "application", name: "cdxgen", version: "10.5.1" }] } },
      components: [
        {
          type: "library",
          "bom-ref": "lib-a",
          name: "a",
          version: "1.0.0",
          purl: "pkg:npm/a@1.0.0",
          licenses: [{ expression: "MIT OR Apache-2.0" }],
          components: [{ type: "library", name: "a-inner", version: "0.1", licenses: [{ license: { name: "Custom" } }] }],
        },
        { type: "library", name: "b", version: "2.0", purl: "pkg:maven/org.b/b@2.0" },
      ],
      vulnerabilities: [
        {
          id: "CVE-2024-0001",
          ratings: [{ score: 9.8, method: "CVSSv31" }],
          affects: [
            {
              ref: "lib-a",
              versions: [
                { version: "1.0.0", status: "affected" },
                { version: "1.0.1", status: "unaffected" },
              ],
            },
          ],
        },
      ],
    };
    const ev = parseEvidence(JSON.stringify(doc));
    expect(ev.tool).toEqual({ name: "cdxgen", version: "10.5.1" });
    expect(ev.components.map((c) => [c.name, c.ecosystem, c.licenses])).toEqual([
      ["a", "npm", ["MIT OR Apache-2.0"]],
      ["a-inner", undefined, ["Custom"]],
      ["b", "maven", []],
    ]);
    expect(ev.kind).toBe("scan");
    expect(ev.findings[0]).toMatchObject({
      package: "a",
      purl: "pkg:npm/a@1.0.0",
      installedVersion: "1.0.0",
      fixedVersion: "1.0.1",
      severity: "critical",
      cvss: { score: 9.8, version: "3.1" },
    });
  });

  it("lists every bad field", () => {
    const raw = json("syft-alpine-3.16-cyclonedx-1.4.json");
    delete raw.components[3].name;
    raw.components[7].version = 12;
    const e = refused(JSON.stringify(raw), "INVALID_DOCUMENT");
    expect(e.message).toBe("CycloneDX: components[3].name is missing; components[7].version should be a string, not a number");
    const v2 = { ...json("syft-alpine-3.16-cyclonedx-1.4.json"), specVersion: "2.0" };
    expect(refused(JSON.stringify(v2), "INVALID_DOCUMENT").message).toBe('CycloneDX: specVersion "2.0" is not supported (1.2 to 1.6 are)');
  });

  it("accepts a 100,000-component SBOM", () => {
    const doc = {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      metadata: { timestamp: "2024-01-01T00:00:00Z" },
      components: Array.from({ length: 100_000 }, (_, i) => ({
        type: "library",
        "bom-ref": `pkg:npm/pkg-${i}@1.${i % 100}.0`,
        name: `pkg-${i}`,
        version: `1.${i % 100}.0`,
        purl: `pkg:npm/pkg-${i}@1.${i % 100}.0`,
        licenses: [{ license: { id: "MIT" } }],
        properties: [{ name: "syft:location:0:layerID", value: "sha256:994393dc58e7931862558d06e46aa2bb17487044f670f310dffe1d24e4d1eec7" }],
      })),
    };
    const ev = parseEvidence(Buffer.from(JSON.stringify(doc)));
    expect(ev.components).toHaveLength(100_000);
    expect(ev.components[99_999]).toMatchObject({ name: "pkg-99999", ecosystem: "npm", licenses: ["MIT"] });
  }, 60_000);
});

describe("SPDX", () => {
  it("reads every package of a Syft SPDX 2.2 document, with PACKAGE_MANAGER purls", () => {
    const raw = json("syft-alpine-3.17-spdx-2.2.json");
    const ev = parseEvidence(bytes("syft-alpine-3.17-spdx-2.2.json"));
    expect(ev.format).toBe("spdx");
    expect(ev.kind).toBe("sbom");
    expect(ev.components).toHaveLength(raw.packages.length);
    expect(ev.components).toHaveLength(15);
    raw.packages.forEach((p: any, i: number) => {
      const c = ev.components[i]!;
      expect(c.name).toBe(p.name);
      expect(c.version).toBe(p.versionInfo);
      const purl = p.externalRefs.find((r: any) => r.referenceType === "purl")?.referenceLocator;
      expect(c.purl).toBe(purl);
      expect(c.ecosystem).toBe(purl ? "apk" : undefined);
      expect(c.licenses).toEqual([p.licenseDeclared]);
    });
    expect(ev.tool).toEqual({ name: "syft", version: "0.58.0" });
    expect(ev.scannedAt).toBe(raw.creationInfo.created);
    expect(ev.subjects).toEqual([]);
  });

  it("accepts SPDX 2.3's PACKAGE-MANAGER and names the described image", () => {
    const raw = json("syft-alpine-3.17-spdx-2.2.json");
    raw.spdxVersion = "SPDX-2.3";
    for (const p of raw.packages) for (const r of p.externalRefs) if (r.referenceCategory === "PACKAGE_MANAGER") r.referenceCategory = "PACKAGE-MANAGER";
    const manifest = "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
    raw.packages.push({
      SPDXID: "SPDXRef-DocumentRoot-Image-alpine",
      name: "alpine",
      versionInfo: manifest,
      primaryPackagePurpose: "CONTAINER",
      externalRefs: [
        { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: `pkg:oci/alpine@${encodeURIComponent(manifest)}?arch=arm64` },
      ],
      annotations: [{ comment: "ImageID: sha256:49176f190c7e9cdb51ac85ab6c6d5e4512352218190cd69b08e6fd803ffbf3da" }],
    });
    raw.relationships.push({ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: "SPDXRef-DocumentRoot-Image-alpine" });
    const ev = parseEvidence(JSON.stringify(raw));
    expect(ev.components).toHaveLength(raw.packages.length);
    const withPurl = raw.packages.filter((p: { externalRefs: { referenceType: string }[] }) => p.externalRefs.some((r) => r.referenceType === "purl")).length;
    expect(ev.components.filter((c) => c.purl)).toHaveLength(withPurl);
    expect(ev.subjects).toEqual([
      { digest: manifest, name: "alpine", kind: "manifest" },
      { digest: "sha256:49176f190c7e9cdb51ac85ab6c6d5e4512352218190cd69b08e6fd803ffbf3da", name: "alpine", kind: "config" },
    ]);
  });

  it("refuses SPDX 3 and packages without a name", () => {
    const raw = json("syft-alpine-3.17-spdx-2.2.json");
    expect(refused(JSON.stringify({ ...raw, spdxVersion: "SPDX-3.0" }), "INVALID_DOCUMENT").message).toMatch(/SPDX-3.0/);
    delete raw.packages[2].name;
    expect(refused(JSON.stringify(raw), "INVALID_DOCUMENT").message).toBe("SPDX: packages[2].name is missing");
  });
});

describe("DSSE, in-toto, SLSA", () => {
  it("decodes a Tekton Chains envelope: SLSA 0.2 provenance, subject, signatures and PAE", () => {
    const raw = json("tekton-chains-slsa-0.2-dsse.json");
    const payload = b64(raw.payload);
    const statement = JSON.parse(payload.toString("utf8"));
    const ev = parseEvidence(bytes("tekton-chains-slsa-0.2-dsse.json"));
    expect(ev.format).toBe("dsse");
    expect(ev.kind).toBe("provenance");
    expect(ev.predicateType).toBe("https://slsa.dev/provenance/v0.2");
    expect(ev.subjects).toEqual([{ digest: `sha256:${statement.subject[0].digest.sha256}`, name: statement.subject[0].name, kind: "manifest" }]);
    expect(ev.provenance).toEqual({
      predicateType: "https://slsa.dev/provenance/v0.2",
      builderId: "https://tekton.dev/chains/v2",
      buildType: "tekton.dev/v1beta1/TaskRun",
      materials: [],
      startedOn: "2022-12-20T14:09:04Z",
      finishedOn: "2022-12-20T14:09:36Z",
    });

    const dsse = ev.dsse!;
    expect(dsse.payloadType).toBe("application/vnd.in-toto+json");
    expect(dsse.payload.equals(payload)).toBe(true);
    expect(dsse.signatures).toEqual([{ keyid: raw.signatures[0].keyid, sig: b64(raw.signatures[0].sig) }]);
    // PAE = "DSSEv1" SP len(type) SP type SP len(payload) SP payload, lengths in bytes.
    const want = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} `), payload]);
    expect(dsse.pae.equals(want)).toBe(true);
    expect(dsse.pae.subarray(0, 40).toString()).toBe(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} `.slice(0, 40));
  });

  it("counts PAE lengths in bytes, not characters", () => {
    const statement = {
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "x", digest: { sha256: "a".repeat(64) } }],
      predicateType: "https://example.com/custom",
      predicate: { note: "Teräs — Sören" },
    };
    const payload = Buffer.from(JSON.stringify(statement), "utf8");
    expect(payload.length).toBeGreaterThan(JSON.stringify(statement).length);
    const ev = parseEvidence(JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: payload.toString("base64"), signatures: [] }));
    expect(ev.kind).toBe("attestation");
    expect(ev.dsse!.pae.toString("utf8")).toBe(`DSSEv1 28 application/vnd.in-toto+json ${payload.length} ${payload.toString("utf8")}`);
    expect(ev.subjects).toEqual([{ digest: `sha256:${"a".repeat(64)}`, name: "x", kind: "unknown" }]);
  });

  it("reads a bare in-toto statement (the decoded Tekton payload)", () => {
    const raw = json("tekton-chains-slsa-0.2-dsse.json");
    const ev = parseEvidence(b64(raw.payload));
    expect(ev.format).toBe("in-toto");
    expect(ev.kind).toBe("provenance");
    expect(ev.dsse).toBeUndefined();
    expect(ev.provenance?.builderId).toBe("https://tekton.dev/chains/v2");
  });

  it("reads JSON Lines of DSSE envelopes: a CycloneDX predicate from Trivy", () => {
    const line = bytes("trivy-centos-7-cyclonedx-intoto.jsonl").toString("utf8").trim();
    const statement = JSON.parse(b64(JSON.parse(line).payload).toString("utf8"));
    const ev = parseEvidence(bytes("trivy-centos-7-cyclonedx-intoto.jsonl"));
    expect(ev.format).toBe("dsse");
    expect(ev.kind).toBe("sbom");
    expect(ev.predicateType).toBe("https://cyclonedx.org/bom");
    expect(ev.components).toHaveLength(statement.predicate.components.length);
    expect(ev.components).toHaveLength(3);
    expect(ev.components.find((c) => c.name === "openssl-libs")).toMatchObject({
      ecosystem: "rpm",
      licenses: ["OpenSSL"],
      layer: "sha256:ac9208207adaac3a48e54a4dc6b49c69e78c3072d2b3add7efdabf814db2133b",
    });
    expect(ev.subjects).toEqual([
      { digest: `sha256:${statement.subject[0].digest.sha256}`, name: "index.docker.io/library/centos", kind: "manifest" },
      {
        digest: "sha256:f1cb7c7d58b73eac859c395882eec49d50651244e342cd6c68a5c7809785f427",
        name: "integration/testdata/fixtures/images/centos-7.tar.gz",
        kind: "config",
      },
    ]);
    expect(ev.dsse!.signatures[0]!.keyid).toBe("");
  });

  it("takes each envelope of a multi-line JSON Lines file", () => {
    const text = `${bytes("tekton-chains-slsa-0.2-dsse.json").toString("utf8").replace(/\n\s*/g, "")}\n\n${bytes("trivy-centos-7-cyclonedx-intoto.jsonl").toString("utf8")}`;
    const all = parseEvidenceAll(text);
    expect(all.map((p) => [p.format, p.kind])).toEqual([
      ["dsse", "provenance"],
      ["dsse", "sbom"],
    ]);
    const ev = parseEvidence(text);
    expect(ev.parts).toHaveLength(2);
    expect(ev.parts!.every((p) => p.dsse)).toBe(true);
    expect(ev.kind).toBe("attestation");
    expect(ev.components).toHaveLength(3);
    expect(ev.provenance?.builderId).toBe("https://tekton.dev/chains/v2");
    expect(ev.subjects).toHaveLength(3);
  });

  it("reads the DSSE envelope of a Sigstore bundle: SLSA 1.0 provenance", () => {
    const raw = json("sigstore-bundle-0.1-slsa-1.0.json");
    const statement = JSON.parse(b64(raw.dsseEnvelope.payload).toString("utf8"));
    const ev = parseEvidence(bytes("sigstore-bundle-0.1-slsa-1.0.json"));
    expect(ev.format).toBe("dsse");
    expect(ev.kind).toBe("provenance");
    expect(ev.predicateType).toBe("https://slsa.dev/provenance/v1");
    expect(ev.provenance).toEqual({
      predicateType: "https://slsa.dev/provenance/v1",
      builderId: statement.predicate.runDetails.builder.id,
      buildType: "https://github.com/slsa-framework/slsa-github-generator/delegator-generic@v0",
      sourceRepo: "https://github.com/slsa-framework/example-package",
      sourceCommit: "d37a7f740ee7404914456f24dcd90e865a0509e8",
      workflow: statement.predicate.buildDefinition.internalParameters.GITHUB_WORKFLOW_REF,
      materials: [
        { uri: "git+https://github.com/slsa-framework/example-package@refs/heads/main", digest: { gitCommit: "d37a7f740ee7404914456f24dcd90e865a0509e8" } },
      ],
    });
    // A file, not an image: the subject's kind is not guessed.
    expect(ev.subjects).toEqual([{ digest: `sha256:${statement.subject[0].digest.sha256}`, name: statement.subject[0].name, kind: "unknown" }]);
    expect(ev.dsse!.signatures).toHaveLength(1);
  });

  it("reads the cosign vuln predicate with a Trivy result (scanner object or scanners array)", () => {
    const trivy = json("trivy-alpine-3.10-schema2.json");
    const vulnCount = trivy.Results.flatMap((r: { Vulnerabilities?: unknown[] }) => r.Vulnerabilities ?? []).length;
    const manifest = "e7d88de73db3d3fd9b2d63aa7f447a10fd0220b7cbf39803c803f2af9ba256b3";
    const scanner = { uri: "pkg:github/aquasecurity/trivy@v0.19.2", version: "0.19.2", db: { uri: "", version: "v1-2021080612" }, result: trivy };
    const statement = {
      _type: "https://in-toto.io/Statement/v0.1",
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      subject: [{ name: "registry.example.com/team/app", digest: { sha256: manifest } }],
      predicate: {
        invocation: { parameters: null, uri: "", event_id: "", "builder.id": "" },
        scanner,
        metadata: { scanStartedOn: "2021-08-25T12:20:00Z", scanFinishedOn: "2021-08-25T12:20:30Z" },
      },
    };
    const ev = parseEvidence(JSON.stringify(statement));
    expect(ev).toMatchObject({ format: "in-toto", kind: "scan", scannedAt: "2021-08-25T12:20:30Z", tool: { name: "trivy", version: "0.19.2" } });
    expect(ev.findings).toHaveLength(vulnCount);
    expect(ev.subjects).toEqual([
      { digest: `sha256:${manifest}`, name: "registry.example.com/team/app", kind: "manifest" },
      { digest: trivy.Metadata.ImageID, name: trivy.ArtifactName, kind: "config" },
    ]);

    const withArray = { ...statement, predicateType: "cosign.sigstore.dev/attestation/vuln/v1", predicate: { scanners: [scanner] } };
    expect(parseEvidence(JSON.stringify(withArray)).findings).toHaveLength(vulnCount);

    const unreadable = { ...statement, predicate: { scanner: { ...scanner, result: { something: "else" } } } };
    expect(refused(JSON.stringify(unreadable), "INVALID_DOCUMENT").message).toMatch(/predicate\.scanner\.result is not a Trivy or Grype report/);
  });

  it("reads an OpenVEX predicate", () => {
    const statement = {
      _type: "https://in-toto.io/Statement/v1",
      predicateType: "https://openvex.dev/ns/v0.2.0",
      subject: [{ name: "ghcr.io/acme/app", digest: { sha256: "b".repeat(64) } }],
      predicate: {
        "@context": "https://openvex.dev/ns/v0.2.0",
        author: "security@acme.example",
        timestamp: "2024-03-01T10:00:00Z",
        statements: [
          {
            vulnerability: { name: "CVE-2023-0464" },
            products: [{ "@id": "pkg:oci/app", subcomponents: [{ "@id": "pkg:apk/alpine/libcrypto3@3.0.8-r0" }] }],
            status: "not_affected",
            justification: "vulnerable_code_not_in_execute_path",
          },
        ],
      },
    };
    const ev = parseEvidence(JSON.stringify(statement));
    expect(ev.kind).toBe("vex");
    expect(ev.findings).toEqual([
      {
        id: "CVE-2023-0464",
        aliases: [],
        severity: "unknown",
        package: "libcrypto3",
        purl: "pkg:apk/alpine/libcrypto3@3.0.8-r0",
        installedVersion: "3.0.8-r0",
        fixAvailable: false,
        status: "not_affected",
        statusDetail: "not_affected: vulnerable_code_not_in_execute_path",
        source: "openvex",
      },
    ]);
  });

  it("refuses broken envelopes and statements", () => {
    expect(refused(JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: "not base64!", signatures: [] }), "INVALID_DOCUMENT").message).toBe(
      "DSSE: payload is not base64",
    );
    expect(
      refused(
        JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: Buffer.from("{}").toString("base64"), signatures: [] }),
        "INVALID_DOCUMENT",
      ).message,
    ).toMatch(/not an in-toto statement/);
    expect(
      refused(JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: "e30=", signatures: [{ keyid: "k" }] }), "INVALID_DOCUMENT").message,
    ).toBe("DSSE: signatures[0].sig is missing");
    const bad = {
      _type: "https://in-toto.io/Statement/v1",
      predicateType: "https://slsa.dev/provenance/v1",
      subject: [{ name: "x", digest: { sha256: "a".repeat(64) } }],
      predicate: { buildDefinition: {}, runDetails: { builder: {} } },
    };
    const e = refused(JSON.stringify(bad), "INVALID_DOCUMENT");
    expect(e.message).toBe("SLSA provenance (in-toto predicate): predicate.buildDefinition.buildType is missing; predicate.runDetails.builder.id is missing");
  });

  it("keeps a non-in-toto DSSE payload as an opaque attestation", () => {
    const ev = parseEvidence(
      JSON.stringify({ payloadType: "text/plain", payload: Buffer.from("hello").toString("base64"), signatures: [{ keyid: "k1", sig: "AAEC" }] }),
    );
    expect(ev).toMatchObject({ format: "dsse", kind: "attestation", components: [], findings: [] });
    expect(ev.dsse!.signatures).toEqual([{ keyid: "k1", sig: Buffer.from([0, 1, 2]) }]);
    expect(ev.dsse!.pae.toString()).toBe("DSSEv1 10 text/plain 5 hello");
  });
});

describe("refusals", () => {
  it("refuses malformed JSON", () => {
    expect(refused('{"bomFormat": "CycloneDX",', "MALFORMED_JSON").message).toMatch(/^the document is not valid JSON: /);
    expect(refused("", "MALFORMED_JSON").message).toBe("the document is empty");
    expect(refused(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), "MALFORMED_JSON").message).toBe("the document is not UTF-8 text");
    const jsonl = `${JSON.stringify({ a: 1 })}\n{oops\n`;
    expect(refused(jsonl, "MALFORMED_JSON").message).toMatch(/^line 2 is not valid JSON/);
  });

  it("refuses valid JSON of an unknown format, naming what it saw", () => {
    const e = refused(JSON.stringify({ critical: { identity: {} }, optional: null }), "UNKNOWN_FORMAT");
    expect(e.message).toBe('not a Trivy, Grype, CycloneDX, SPDX, in-toto or DSSE document: an object with keys "critical", "optional"');
    expect(refused("[1, 2]", "UNKNOWN_FORMAT").message).toMatch(/a JSON array/);
    expect(refused("42", "UNKNOWN_FORMAT").message).toMatch(/a JSON number/);
    expect(refused("null", "UNKNOWN_FORMAT").message).toMatch(/a JSON null/);
    expect(refused(JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", messageSignature: {} }), "UNKNOWN_FORMAT").message).toMatch(
      /message signature/,
    );
    expect(refused(JSON.stringify({ _type: "https://in-toto.io/Statement/v2", predicateType: "x", subject: [] }), "INVALID_DOCUMENT").message).toMatch(
      /Statement\/v2/,
    );
  });

  it("names the failing line of a JSON Lines file", () => {
    const good = bytes("trivy-centos-7-cyclonedx-intoto.jsonl").toString("utf8").trim();
    const e = refused(`${good}\n${JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: "%%", signatures: [] })}\n`, "INVALID_DOCUMENT");
    expect(e.message).toBe("line 2: DSSE: payload is not base64");
  });
});

describe("strings stay strings", () => {
  it("keeps HTML and script in names, titles and versions verbatim", () => {
    const xss = "<script>alert(1)</script>";
    const img = `<img src=x onerror="alert('x')">&amp;`;
    const trivy = json("trivy-alpine-3.10-schema2.json");
    trivy.Results[0].Vulnerabilities[0].PkgName = xss;
    trivy.Results[0].Vulnerabilities[0].Title = img;
    trivy.Results[0].Vulnerabilities[0].InstalledVersion = "1.0<b>";
    const t = parseEvidence(JSON.stringify(trivy));
    expect(t.findings[0]).toMatchObject({ package: xss, title: img, installedVersion: "1.0<b>" });

    const cdx = json("syft-alpine-3.16-cyclonedx-1.4.json");
    cdx.components[0].name = xss;
    cdx.components[0].licenses = [{ license: { name: img } }];
    const c: ParsedEvidence = parseEvidence(JSON.stringify(cdx));
    expect(c.components[0]!.name).toBe(xss);
    expect(c.components[0]!.licenses).toEqual([img]);
  });
});

describe("parseEvidenceStream", () => {
  async function* chunks(buf: Buffer, size: number, seen: { n: number; closed: boolean }) {
    try {
      for (let i = 0; i < buf.length; i += size) {
        seen.n++;
        yield new Uint8Array(buf.subarray(i, i + size));
      }
    } finally {
      seen.closed = true;
    }
  }

  it("parses a streamed document and returns its bytes", async () => {
    const buf = bytes("syft-alpine-3.17-spdx-2.2.json");
    const seen = { n: 0, closed: false };
    const { evidence, bytes: kept } = await parseEvidenceStream(chunks(buf, 4096, seen), { maxBytes: buf.length });
    expect(kept.equals(buf)).toBe(true);
    expect(evidence.components).toHaveLength(15);
  });

  it("stops with TOO_LARGE as soon as the cap is passed, and cancels the source", async () => {
    const buf = bytes("syft-alpine-3.17-spdx-2.2.json");
    const seen = { n: 0, closed: false };
    await expect(parseEvidenceStream(chunks(buf, 1024, seen), { maxBytes: 10_000 })).rejects.toMatchObject({ code: "TOO_LARGE" });
    expect(seen.n).toBe(10); // 10 KiB read, not the whole 65 KB
    expect(seen.closed).toBe(true);
  });
});

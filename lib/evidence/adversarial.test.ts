import { describe, expect, it } from "vitest";
import { EvidenceError, parseEvidence, parseEvidenceStatements } from "./detect";
import { normalizeDigest } from "./model";
import { purlName } from "./intoto";
import { splitToolName } from "./spdx";
import { jsonDepth } from "./util";

// Hostile inputs of about 1 MB for every parser. The failure mode these guard against is minutes of CPU on one
// request (quadratic or exponential backtracking), so a generous bound in seconds is fair here: a linear parse
// of 1 MB takes milliseconds. No other test in this file depends on timing.
const MB = 1024 * 1024;
const BOUND_MS = 5000;

function timed<T>(f: () => T): { ms: number; value?: T; error?: unknown } {
  const t0 = performance.now();
  try {
    const value = f();
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}

const digest = `sha256:${"a".repeat(64)}`;
const repeatTo = (unit: string, bytes = MB) => unit.repeat(Math.ceil(bytes / unit.length));

const spdx = (over: Record<string, unknown>) =>
  JSON.stringify({
    spdxVersion: "SPDX-2.3",
    SPDXID: "SPDXRef-DOCUMENT",
    name: "x",
    creationInfo: { created: "2026-01-01T00:00:00Z", creators: ["Tool: syft-1.0.0"] },
    packages: [],
    ...over,
  });
const cdx = (over: Record<string, unknown>) => JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, ...over });
const statement = (
  predicateType: string,
  predicate: unknown,
  subject: unknown[] = [{ name: "registry.example.com/app", digest: { sha256: "a".repeat(64) } }],
) => JSON.stringify({ _type: "https://in-toto.io/Statement/v1", subject, predicateType, predicate });

const cases: [string, () => string][] = [
  [
    "SPDX creator 'Tool: a-1-1-…-1!' (quadratic with /^(.+?)-v?(\\d[\\w.+-]*)$/)",
    () => spdx({ creationInfo: { created: "2026-01-01T00:00:00Z", creators: [`Tool: a${repeatTo("-1")}!`] } }),
  ],
  ["SPDX creator with a version run after a long name of dashes", () => spdx({ creationInfo: { creators: [`Tool: ${repeatTo("-")}x-1.0`] } })],
  [
    "SPDX annotation 'ImageID:' followed by 1 MB of spaces",
    () => spdx({ documentDescribes: ["SPDXRef-p"], packages: [{ SPDXID: "SPDXRef-p", name: "p", annotations: [{ comment: `ImageID:${repeatTo(" ")}x y` }] }] }),
  ],
  [
    "SPDX checksum value of 1 MB of hex then a bad character",
    () =>
      spdx({
        documentDescribes: ["SPDXRef-p"],
        packages: [
          { SPDXID: "SPDXRef-p", name: "p", versionInfo: `sha256:${repeatTo("a")}!`, checksums: [{ algorithm: "SHA256", checksumValue: `${repeatTo("a")}!` }] },
        ],
      }),
  ],
  ["CycloneDX recommendation 'to version ' repeated", () => cdx({ vulnerabilities: [{ id: "CVE-1", recommendation: `${repeatTo("to version ")}x y` }] })],
  [
    "CycloneDX recommendation with 1 MB of spaces before the end",
    () => cdx({ vulnerabilities: [{ id: "CVE-1", recommendation: `Upgrade to version 1${repeatTo(" ")}x` }] }),
  ],
  [
    "CycloneDX BOM-Link ref 'urn:cdx:aaaa…' with no fragment",
    () => cdx({ vulnerabilities: [{ id: "CVE-1", affects: [{ ref: `urn:cdx:${repeatTo("a/1")}` }] }] }),
  ],
  [
    "CycloneDX root component digest-like version of 1 MB",
    () => cdx({ metadata: { component: { name: "x", version: `${repeatTo("a.")}:${"a".repeat(64)}`, purl: `pkg:oci/x@${repeatTo("%")}` } } }),
  ],
  [
    "CycloneDX 1 MB of components with long purls",
    () => cdx({ components: Array.from({ length: 2000 }, (_, i) => ({ name: `c${i}`, purl: `pkg:npm/${"a/".repeat(250)}@1` })) }),
  ],
  ["in-toto predicateType of 1 MB of slashes then a character (quadratic with /\\/+$/)", () => statement(`https://example.com${repeatTo("/")}x`, {})],
  ["in-toto subject name 'a.a.a.…!'", () => statement("https://example.com/p", {}, [{ name: `${repeatTo("a.")}!`, digest: { sha256: "a".repeat(64) } }])],
  ["in-toto subject name 'a:1:1:…'", () => statement("https://example.com/p", {}, [{ name: `a${repeatTo(":1")}`, digest: { sha256: "a".repeat(64) } }])],
  [
    "OpenVEX product 'pkg:a/' and 1 MB of slashes",
    () => statement("https://openvex.dev/ns/v0.2.0", { statements: [{ vulnerability: "CVE-1", status: "affected", products: [`pkg:a/${repeatTo("/")}@`] }] }),
  ],
  [
    "OpenVEX product 'pkg:a/a/a/…' without a name",
    () => statement("https://openvex.dev/ns/v0.2.0", { statements: [{ vulnerability: "CVE-1", status: "affected", products: [`pkg:${repeatTo("a/")}`] }] }),
  ],
  [
    "SLSA provenance with a 1 MB git+ URI",
    () =>
      statement("https://slsa.dev/provenance/v0.2", {
        builder: { id: "b" },
        invocation: { configSource: { uri: `git+${repeatTo("git+")}@`, digest: { sha1: "a" } } },
      }),
  ],
  ["a CycloneDX predicate given as a 1 MB string of brackets", () => statement("https://cyclonedx.org/bom", repeatTo("["))],
  [
    "DSSE payload of 1 MB of base64 then a bad character",
    () => JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: `${repeatTo("A")}!`, signatures: [] }),
  ],
  [
    "DSSE signature of 1 MB of mixed base64 alphabets",
    () => JSON.stringify({ payloadType: "text/plain", payload: "", signatures: [{ sig: `${repeatTo("A_")}+=` }] }),
  ],
  [
    "Trivy report with 1 MB of strings",
    () =>
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: repeatTo("a@"),
        ArtifactType: "container_image",
        Metadata: { ImageID: `sha256:${repeatTo("a")}`, RepoDigests: [`${repeatTo("@")}sha256:${"a".repeat(64)}`] },
        Results: [
          {
            Target: "t",
            Vulnerabilities: [
              {
                VulnerabilityID: "CVE-1",
                PkgName: "p",
                InstalledVersion: "1",
                Severity: "HIGH",
                CVSS: { nvd: { V3Vector: `CVSS:${repeatTo("1.")}/`, V3Score: 1 } },
              },
            ],
          },
        ],
      }),
  ],
  [
    "Grype report with 1 MB of strings",
    () =>
      JSON.stringify({
        matches: [
          {
            vulnerability: {
              id: "CVE-1",
              severity: "High",
              cvss: [{ vector: `(AV:${repeatTo("L/")}`, metrics: { baseScore: 1 } }],
              fix: { versions: [], state: "unknown" },
            },
            artifact: { name: "p", version: "1", type: "npm", purl: `pkg:${repeatTo("/")}` },
            matchDetails: [],
          },
        ],
        source: { type: "image", target: { userInput: "x", imageID: `sha256:${repeatTo("a")}`, repoDigests: [] } },
        descriptor: { name: "grype", version: "0.1" },
      }),
  ],
  ["JSON Lines of 1 MB of small statements", () => repeatTo(`${statement("https://example.com/p", {})}\n`)],
  ["1 MB of nested brackets", () => repeatTo("[")],
  ["JSON text with 1 MB of escaped quotes in a string", () => `{"bomFormat":"CycloneDX","specVersion":"1.5","x":"${repeatTo('\\"')}"}`],
];

describe("parsers on hostile 1 MB inputs", () => {
  it.each(cases)("%s: answers in linear time, with a result or an EvidenceError", (_name, make) => {
    const input = make();
    expect(input.length).toBeGreaterThanOrEqual(MB);
    const r = timed(() => parseEvidence(input));
    if (r.error !== undefined) expect(r.error).toBeInstanceOf(EvidenceError);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });

  it("refuses a scan whose vulnerability id, alias or package holds a control character (quoted later in reasons and exports)", () => {
    const trivy = (vuln: Record<string, unknown>) =>
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: "x",
        ArtifactType: "container_image",
        Results: [{ Target: "x", Vulnerabilities: [{ VulnerabilityID: "CVE-2026-1", PkgName: "openssl", InstalledVersion: "1", Severity: "HIGH", ...vuln }] }],
      });
    expect(parseEvidence(trivy({})).findings).toHaveLength(1);
    for (const [vuln, what] of [
      [{ VulnerabilityID: "CVE-2026-1\u0007" }, "vulnerability id"],
      [{ VendorIDs: ["GHSA-x\u001b[31m"] }, "vulnerability alias"],
      [{ PkgName: "open\u0000ssl" }, "package name"],
    ] as const) {
      const r = timed(() => parseEvidence(trivy(vuln)));
      expect(r.error, what).toBeInstanceOf(EvidenceError);
      expect((r.error as EvidenceError).code).toBe("INVALID_DOCUMENT");
      expect((r.error as EvidenceError).message).toContain(`its ${what} contains control characters`);
    }
  });

  it("refuses CycloneDX components nested 10,000 deep as an invalid document, not a stack overflow", () => {
    // Built as text: JSON.stringify itself overflows the stack on such an object.
    const nest = (n: number) => `${'{"name":"c","components":['.repeat(n)}{"name":"leaf"}${"]}".repeat(n)}`;
    const input = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[${nest(10_000)}]}`;
    const r = timed(() => parseEvidence(input));
    expect(r.error).toBeInstanceOf(EvidenceError);
    expect((r.error as EvidenceError).code).toBe("INVALID_DOCUMENT");
    expect((r.error as EvidenceError).message).toContain("deeper than 128 levels");
    // The same BOM as an in-toto predicate inside a DSSE payload is refused the same way.
    const st = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"${"a".repeat(64)}"}}],"predicateType":"https://cyclonedx.org/bom","predicate":${input}}`;
    const env = JSON.stringify({ payloadType: "application/vnd.in-toto+json", payload: Buffer.from(st).toString("base64"), signatures: [] });
    const d = timed(() => parseEvidence(env));
    expect(d.error).toBeInstanceOf(EvidenceError);
    expect((d.error as EvidenceError).message).toContain("the payload nests");
  });

  it("still reads components nested a realistic few levels deep", () => {
    let c: Record<string, unknown> = { name: "leaf" };
    for (let i = 0; i < 20; i++) c = { name: `c${i}`, components: [c] };
    expect(parseEvidence(cdx({ components: [c] })).components).toHaveLength(21);
  });
});

describe("linear replacements keep the old meaning", () => {
  // The regex the SPDX tool-name parse used: quadratic, but the meaning to keep.
  const OLD_TOOL = /^(.+?)-v?(\d[\w.+-]*)$/;
  const alphabet = ["a", "-", "1", "v", ".", "+", "_", " ", "!", "\n"];

  it("splits SPDX tool names exactly as the old regex did, on every short string over a tricky alphabet", () => {
    let checked = 0;
    const mismatches: string[] = [];
    const walk = (s: string) => {
      const m = OLD_TOOL.exec(s);
      const got = splitToolName(s);
      if (m ? got.name !== m[1] || got.version !== m[2] : got.name !== s || got.version !== undefined) mismatches.push(s);
      checked++;
      if (s.length < 5) for (const c of alphabet) walk(s + c);
    };
    walk("");
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(checked).toBeGreaterThan(100_000);
    expect(splitToolName("syft-0.58.0")).toEqual({ name: "syft", version: "0.58.0" });
    expect(splitToolName("trivy-v0.50.1")).toEqual({ name: "trivy", version: "0.50.1" });
    expect(splitToolName("cyclonedx-gomod-1.2.3")).toEqual({ name: "cyclonedx-gomod", version: "1.2.3" });
  }, 60_000);

  it("names VEX products from purls", () => {
    expect(purlName("pkg:npm/%40scope/name@1.2.3?x=1#sub")).toEqual({ name: "name", version: "1.2.3" });
    expect(purlName("pkg:deb/debian/openssl@1.1.1n-0+deb11u3?arch=amd64")).toEqual({ name: "openssl", version: "1.1.1n-0+deb11u3" });
    expect(purlName("pkg:golang/github.com/x/y")).toEqual({ name: "y" });
    expect(purlName("not-a-purl")).toEqual({ name: "not-a-purl" });
  });

  it("measures JSON depth outside strings only", () => {
    expect(jsonDepth('{"a":[[1]],"b":"[[[[[[\\"["}')).toBe(3);
    expect(normalizeDigest(`sha256:${"A".repeat(64)}`)).toBe(`sha256:${"a".repeat(64)}`);
    expect(normalizeDigest(`sha256:${"a".repeat(300)}`)).toBeUndefined();
    expect(normalizeDigest(digest)).toBe(digest);
  });
});

describe("the event loop keeps turning while a large upload is parsed", () => {
  it("a timer keeps firing during the parse of 4 MB of JSON Lines", async () => {
    const line = statement("https://slsa.dev/provenance/v1", {
      buildDefinition: {
        buildType: "b",
        resolvedDependencies: Array.from({ length: 20 }, (_, i) => ({ uri: `git+https://example.com/r${i}`, digest: { sha1: "a".repeat(40) } })),
      },
      runDetails: { builder: { id: "x" } },
    });
    const input = repeatTo(`${line}\n`, 4 * MB);
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    try {
      const t0 = performance.now();
      const statements = await parseEvidenceStatements(input);
      const took = performance.now() - t0;
      expect(statements.length).toBe(input.split("\n").filter(Boolean).length);
      expect(statements[1]!.bytes.toString("utf8")).toBe(line);
      // A synchronous parse lets no timer fire at all; this one lets them fire between statements.
      expect(ticks).toBeGreaterThan(2);
      expect(maxGap).toBeLessThan(Math.max(took, 1));
    } finally {
      clearInterval(timer);
    }
  });

  it("a timer keeps firing during the parse of one 12 MB CycloneDX SBOM of 40,000 components", async () => {
    const components = Array.from({ length: 40_000 }, (_, i) => ({
      type: "library",
      name: `large-component-number-${i}`,
      version: `1.${i % 100}.0`,
      purl: `pkg:npm/large-component-number-${i}@1.${i % 100}.0`,
      licenses: [{ license: { id: "MIT" } }],
      properties: [
        { name: "syft:package:type", value: "npm" },
        { name: "syft:location:0:path", value: `/app/node_modules/large-component-number-${i}/package.json` },
      ],
    }));
    const input = Buffer.from(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components }));
    expect(input.byteLength).toBeGreaterThan(12 * 1024 * 1024);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      const [st] = await parseEvidenceStatements(input);
      expect(st!.evidence.components).toHaveLength(40_000);
      // Validation pauses every 1,000 components: the timer fires many times during one document.
      expect(ticks).toBeGreaterThan(10);
    } finally {
      clearInterval(timer);
    }
  }, 60_000);

  it("lists bad components with their index in the whole list, across validation steps", () => {
    const components = Array.from({ length: 2500 }, (_, i) => (i === 3 || i === 2001 ? { version: "1" } : { name: `c${i}` }));
    try {
      parseEvidence(cdx({ components }));
      throw new Error("expected a refusal");
    } catch (e) {
      expect((e as EvidenceError).issues).toEqual(["components[3].name is missing", "components[2001].name is missing"]);
    }
  });
});

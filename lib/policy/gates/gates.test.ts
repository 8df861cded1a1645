import { describe, expect, it } from "vitest";
import { blockingReasons, evaluateGates, GATE_IDS, GATES, hasConfiguredGates, parseGateConfig, GateConfigError, type GateFacts } from ".";

const now = new Date("2026-11-25T12:00:00Z");
const facts = (over: Partial<GateFacts> = {}): GateFacts => ({
  now,
  findings: [],
  scanCount: 1,
  newestScanAt: new Date("2026-11-25T10:00:00Z"),
  sbomCount: 1,
  provenance: [
    {
      builderId: "https://github.com/acme/ci/.github/workflows/build.yml@refs/heads/main",
      sourceRepo: "git+https://github.com/acme/app",
      signed: true,
      signedBy: "acme-ci",
      signerBuilderIds: ["https://github.com/acme/**"],
    },
  ],
  evidence: [{ kind: "scan", signatureStatus: "signed", signedBy: "ci" }],
  previousStage: { name: "build", state: "approved", detail: "signed by build-key" },
  base: { state: "verified", name: "publisher/base", detail: "verified by publisher" },
  waivers: [],
  ...over,
});
const highs = (n: number, fix = true) =>
  Array.from({ length: n }, (_, i) => ({ vulnId: `CVE-2026-${1000 + i}`, severity: "high", fixAvailable: fix, package: "openssl" }));

describe("evaluateGates", () => {
  it("explains a findings failure with the ids over the limit", () => {
    const r = evaluateGates(parseGateConfig({ findings: { max: { critical: 0, high: 3 } } }), facts({ findings: highs(5) }));
    expect(r).toHaveLength(1);
    expect(r[0]!.passed).toBe(false);
    expect(r[0]!.detail).toContain("high findings 5 > 3 allowed: CVE-2026-1000, CVE-2026-1001");
    expect(r[0]!.failingIds).toEqual(["CVE-2026-1000", "CVE-2026-1001", "CVE-2026-1002", "CVE-2026-1003", "CVE-2026-1004"]);
    const many = evaluateGates(parseGateConfig({ findings: { max: { high: 0 } } }), facts({ findings: highs(8) }))[0]!;
    expect(many.detail).toContain("and 3 more");
    expect(many.failingIds).toHaveLength(8);
  });

  it("counts only fixable findings when configured so", () => {
    const cfg = parseGateConfig({ findings: { max: { high: 3 }, count: "fixable" } });
    expect(evaluateGates(cfg, facts({ findings: highs(5, false) }))[0]!.passed).toBe(true);
    expect(evaluateGates(cfg, facts({ findings: highs(5, true) }))[0]!.passed).toBe(false);
  });

  it("refuses to pass a findings gate when no scan exists", () => {
    const r = evaluateGates(parseGateConfig({ findings: { max: { critical: 0 } } }), facts({ scanCount: 0, findings: [] }));
    expect(r[0]!.passed).toBe(false);
    expect(r[0]!.detail).toMatch(/no vulnerability scan/);
  });

  it("fails closed when the image has more finding rows than a judgement reads, however clean the part read is", () => {
    const cfg = parseGateConfig({ findings: { max: { critical: 0, high: 10 } } });
    expect(evaluateGates(cfg, facts({ findings: highs(2) }))[0]!.passed).toBe(true);
    const r = evaluateGates(cfg, facts({ findings: highs(2), findingsTruncated: { limit: 50_000 } }))[0]!;
    expect(r.passed).toBe(false);
    expect(r.detail).toMatch(/^more than 50,000 finding rows .* cannot be judged/);
    // A gate that does not read findings is not affected.
    expect(evaluateGates(parseGateConfig({ sbom: true }), facts({ findingsTruncated: { limit: 50_000 } }))[0]!.passed).toBe(true);
  });

  it("fails closed on an advisory a person the gate checks imported last, naming it, and still lists the findings over the limit", () => {
    const cfg = parseGateConfig({ findings: { max: { critical: 0, high: 0 } } });
    const own = (id: string) => ({ id, importedBy: "alice@example.com", why: "who approves this promotion" });
    const one = evaluateGates(cfg, facts({ discountedAdvisories: [own("GHSA-a")] }))[0]!;
    expect(one.passed).toBe(false);
    expect(one.detail).toBe(
      "advisory GHSA-a was last imported by alice@example.com, who approves this promotion: the findings limits cannot be judged on their word (four eyes: another reviewer or the advisory feed must import it)",
    );
    const many = evaluateGates(cfg, facts({ findings: highs(1), discountedAdvisories: ["GHSA-a", "GHSA-b", "GHSA-c", "GHSA-d", "GHSA-e"].map(own) }))[0]!;
    expect(many.detail).toMatch(/GHSA-c was .*; and 2 more advisories for the same reason: .*must import them\); high findings 1 > 0 allowed: CVE-2026-1000$/);
    expect(many.failingIds).toEqual(["CVE-2026-1000"]);
    // A gate that does not read findings is not affected.
    expect(evaluateGates(parseGateConfig({ sbom: true }), facts({ discountedAdvisories: [own("GHSA-a")] }))[0]!.passed).toBe(true);
  });

  it("an index fails the findings and scan-age gates while a platform has no scan, naming it", () => {
    const cfg = parseGateConfig({ findings: { max: { critical: 0 } }, maxScanAgeHours: 24 });
    const r = evaluateGates(cfg, facts({ uncoveredPlatforms: ["linux/arm64"], newestScanAt: null }));
    expect(r.map((g) => [g.gate, g.passed])).toEqual([
      ["findings", false],
      ["scanAge", false],
    ]);
    expect(r[0]!.detail).toMatch(/^no scan covers linux\/arm64 /);
    expect(r[1]!.detail).toMatch(/^no scan covers linux\/arm64 .*at most 24 h old/);
    expect(evaluateGates(cfg, facts({ uncoveredPlatforms: [] })).every((g) => g.passed)).toBe(true);
  });
  it("an index fails the sbom and provenance gates while a platform has none of its own, naming it", () => {
    // Found by review: CI's signed SBOM and provenance of the amd64 manifest passed both gates for an index whose
    // arm64 manifest (built anywhere) the index's signature admits as well.
    const index = {
      digest: "sha256:index",
      platforms: [
        { name: "linux/amd64", digests: ["sha256:amd64", "sha256:amd64-config"] },
        { name: "linux/arm64", digests: ["sha256:arm64"] },
      ],
    };
    const cfg = parseGateConfig({ sbom: true, provenance: { builderIds: ["https://github.com/acme/**"] }, signedEvidence: true });
    const ci = facts().provenance[0]!;
    const onAmd64 = facts({ index, sbomUncoveredPlatforms: ["linux/arm64"], provenance: [{ ...ci, subjectDigest: "sha256:amd64" }] });
    const r = evaluateGates(cfg, onAmd64).filter((g) => g.gate !== "signedEvidence");
    expect(r.map((g) => [g.gate, g.passed])).toEqual([
      ["sbom", false],
      ["provenance", false],
    ]);
    expect(r[0]!.detail).toMatch(/^no SBOM covers linux\/arm64 /);
    expect(r[1]!.detail).toMatch(/^no provenance statement covers linux\/arm64 /);
    // A statement per platform (by manifest or config), or one of the index as a whole, or one naming nothing: pass.
    for (const provenance of [
      [
        { ...ci, subjectDigest: "sha256:amd64-config" },
        { ...ci, subjectDigest: "sha256:arm64" },
      ],
      [{ ...ci, subjectDigest: "sha256:index" }],
      [{ ...ci, subjectDigest: null }],
    ])
      expect(evaluateGates(cfg, facts({ index, sbomUncoveredPlatforms: [], provenance })).every((g) => g.passed)).toBe(true);
    // Only statements that pass the gate cover: an unsigned one of arm64 does not, with signed evidence required.
    const unsignedArm = [
      { ...ci, subjectDigest: "sha256:amd64" },
      { ...ci, subjectDigest: "sha256:arm64", signed: false },
    ];
    expect(evaluateGates(cfg, facts({ index, sbomUncoveredPlatforms: [], provenance: unsignedArm })).find((g) => g.gate === "provenance")!.passed).toBe(false);
    // An image that is not an index is judged as before.
    expect(evaluateGates(cfg, facts({ provenance: [{ ...ci, subjectDigest: "sha256:other" }] })).every((g) => g.passed)).toBe(true);
  });

  it("a waiver for specific CVE ids removes them from the count; an expired waiver stops counting", () => {
    const cfg = parseGateConfig({ findings: { max: { high: 3 } } });
    const waiver = {
      id: "w1",
      gate: "findings",
      vulnIds: ["CVE-2026-1000", "CVE-2026-1001"],
      reason: "not reachable",
      grantedBy: "carol",
      expiresAt: new Date("2026-12-01T00:00:00Z"),
    };
    const ok = evaluateGates(cfg, facts({ findings: highs(5), waivers: [waiver] }))[0]!;
    expect(ok).toMatchObject({ passed: true, waived: true, waiverIds: ["w1"] });
    const expired = evaluateGates(cfg, facts({ findings: highs(5), waivers: [{ ...waiver, expiresAt: new Date("2026-11-25T11:59:59Z") }] }))[0]!;
    expect(expired.passed).toBe(false);
  });

  it("a gate-wide waiver passes a failing gate and says so", () => {
    const r = evaluateGates(
      parseGateConfig({ sbom: true }),
      facts({
        sbomCount: 0,
        waivers: [{ id: "w2", gate: "sbom", vulnIds: [], reason: "legacy image", grantedBy: "carol", expiresAt: new Date("2027-01-01T00:00:00Z") }],
      }),
    )[0]!;
    expect(r).toMatchObject({ passed: true, waived: true, waiverIds: ["w2"] });
    expect(r.detail).toContain("waived by carol");
  });

  it("checks provenance builder and source patterns", () => {
    const cfg = parseGateConfig({ provenance: { builderIds: ["https://github.com/acme/**"], sourceRepos: ["git+https://github.com/other/*"] } });
    const r = evaluateGates(cfg, facts())[0]!;
    expect(r.passed).toBe(false);
    expect(r.detail).toContain("source git+https://github.com/acme/app matches none of");
    expect(evaluateGates(parseGateConfig({ provenance: {} }), facts({ provenance: [] }))[0]!.passed).toBe(false);
  });

  it("previous stage, base publisher, signed evidence and scan age", () => {
    const cfg = parseGateConfig({ previousStage: true, basePublisher: true, signedEvidence: true, maxScanAgeHours: 1 });
    const r = evaluateGates(
      cfg,
      facts({
        previousStage: { name: "test", state: "signature pending", detail: "approved; the signature is not yet in the registry" },
        base: { state: "unverified", name: "x", detail: "base image x: no verified publisher signature" },
        evidence: [{ kind: "scan", signatureStatus: "unsigned", signedBy: null }],
      }),
    );
    expect(r.map((g) => [g.gate, g.passed])).toEqual([
      ["signedEvidence", false],
      ["previousStage", false],
      ["basePublisher", false],
      ["scanAge", false],
    ]);
    expect(blockingReasons(r)[3]).toMatch(/scan age: newest scan .* is 2\.0 h old; at most 1 h allowed/);
  });

  it("passes everything on good facts", () => {
    const cfg = parseGateConfig({
      findings: { max: { critical: 0 } },
      sbom: true,
      provenance: { builderIds: ["https://github.com/acme/**"] },
      signedEvidence: true,
      previousStage: true,
      basePublisher: true,
      maxScanAgeHours: 24,
    });
    expect(evaluateGates(cfg, facts()).every((g) => g.passed && !g.waived)).toBe(true);
  });
});

describe("evidence trust in the gates", () => {
  it("an unsigned provenance statement does not satisfy the provenance gate when signed evidence is required", () => {
    const cfg = parseGateConfig({ provenance: { builderIds: ["https://github.com/acme/**"] }, signedEvidence: true });
    const forged = {
      builderId: "https://github.com/acme/ci/.github/workflows/build.yml@refs/heads/main",
      sourceRepo: "git+https://github.com/acme/app",
      signed: false,
    };
    const r = evaluateGates(
      cfg,
      facts({
        provenance: [forged],
        evidence: [
          { kind: "scan", signatureStatus: "signed", signedBy: "ci" },
          { kind: "provenance", signatureStatus: "unsigned", signedBy: null },
        ],
      }),
    );
    expect(r.map((g) => [g.gate, g.passed])).toEqual([
      ["provenance", false],
      ["signedEvidence", false],
    ]);
    expect(r[0]!.detail).toContain("not signed by a key trusted as builder");
    // Without the signed-evidence requirement the claim is taken as stated (and the UI shows it unsigned).
    expect(evaluateGates(parseGateConfig({ provenance: { builderIds: ["https://github.com/acme/**"] } }), facts({ provenance: [forged] }))[0]!.passed).toBe(
      true,
    );
  });

  describe("a signed statement's builder id counts only if its signing key is bound to it", () => {
    const release = "https://release.example/builder@v1";
    const cfg = parseGateConfig({ provenance: { builderIds: ["https://release.example/*"] }, signedEvidence: true });
    const byTeam = { builderId: release, sourceRepo: null, signed: true, signedBy: "team-ci", signerBuilderIds: ["https://ci.team.example/*"] };
    const byRelease = { builderId: release, sourceRepo: null, signed: true, signedBy: "release-ci", signerBuilderIds: ["https://release.example/*"] };
    const provenanceGate = (provenance: GateFacts["provenance"], config = cfg) =>
      evaluateGates(config, facts({ provenance })).find((g) => g.gate === "provenance")!;

    it("refuses the release builder's id signed by the team's builder key, and says why", () => {
      const r = provenanceGate([byTeam]);
      expect(r.passed).toBe(false);
      expect(r.detail).toBe(
        "builder https://release.example/builder@v1 is not one that key team-ci (builder) may vouch for (its builder ids: https://ci.team.example/*)",
      );
    });

    it("accepts it signed by the release builder's key, also beside a statement that is not vouched for", () => {
      expect(provenanceGate([byRelease]).passed).toBe(true);
      expect(provenanceGate([byTeam, byRelease])).toMatchObject({ passed: true, detail: `builder ${release}, source (none)` });
    });

    it("fails closed when the signer's identity is gone or vouches for no builder id", () => {
      expect(provenanceGate([{ ...byRelease, signerBuilderIds: null }]).detail).toContain("the trust identity no longer exists");
      expect(provenanceGate([{ ...byRelease, signerBuilderIds: [] }]).detail).toContain("it may vouch for no builder id");
      expect(provenanceGate([{ ...byRelease, signerBuilderIds: undefined }]).passed).toBe(false);
    });

    it("an identity bound to ** vouches for any builder id (the upgrade default)", () => {
      expect(provenanceGate([{ ...byTeam, signerBuilderIds: ["**"] }]).passed).toBe(true);
    });

    it("still names a builder outside the stage's patterns as such", () => {
      const other = { ...byRelease, builderId: "https://elsewhere.example/b" };
      expect(provenanceGate([other]).detail).toBe("builder https://elsewhere.example/b matches none of https://release.example/*");
    });

    it("binds nothing without signed evidence or without builder patterns (the builder id is then not relied on)", () => {
      expect(provenanceGate([byTeam], parseGateConfig({ provenance: { builderIds: ["https://release.example/*"] } })).passed).toBe(true);
      expect(provenanceGate([{ ...byTeam, signed: false }], parseGateConfig({ provenance: { builderIds: ["https://release.example/*"] } })).passed).toBe(true);
      expect(provenanceGate([byTeam], parseGateConfig({ provenance: {}, signedEvidence: true })).passed).toBe(true);
    });
  });

  it("an unsigned VEX statement fails the signed-evidence gate (it can clear findings)", () => {
    const r = evaluateGates(
      parseGateConfig({ signedEvidence: true }),
      facts({
        evidence: [
          { kind: "scan", signatureStatus: "signed", signedBy: "scanner" },
          { kind: "vex", signatureStatus: "unsigned", signedBy: null },
        ],
      }),
    );
    expect(r[0]!.passed).toBe(false);
    expect(r[0]!.detail).toContain("vex unsigned");
  });

  it("says which waiver was not counted and why", () => {
    const w = { id: "w1", gate: "sbom", vulnIds: [], reason: "later", expiresAt: new Date(now.getTime() + 3_600_000), grantedBy: "Alice" };
    const r = evaluateGates(
      parseGateConfig({ sbom: true }),
      facts({ sbomCount: 0, waivers: [], discountedWaivers: [{ ...w, why: "four eyes, Alice requested this promotion" }] }),
    );
    expect(r[0]!.passed).toBe(false);
    expect(r[0]!.detail).toContain("not counted: four eyes, Alice requested this promotion");
  });
});

describe("evidence not counted for the request (four eyes)", () => {
  const doc = (kind: string, i: number) => ({
    id: `d${i}`,
    kind,
    digest: `sha256:${String(i).repeat(64).slice(0, 64)}`,
    uploadedBy: "dev@example.com",
    why: `${kind} d${i} not counted: uploaded by dev@example.com, who requested this promotion (four eyes: …)`,
  });

  it("a failing gate names the documents of the kinds it reads that were left out, and no others", () => {
    const discountedEvidence = [doc("scan", 1), doc("sbom", 2), doc("vex", 3), doc("provenance", 4)];
    const cfg = parseGateConfig({ findings: { max: { critical: 0 } }, sbom: true, provenance: {}, maxScanAgeHours: 24 });
    const [findings, sbom, provenance, scanAge] = evaluateGates(
      cfg,
      facts({ scanCount: 0, newestScanAt: null, sbomCount: 0, provenance: [], evidence: [], discountedEvidence }),
    );
    expect(findings!.detail).toMatch(/^no vulnerability scan .*\(scan d1 not counted: .*; vex d3 not counted: .*\)$/);
    expect(sbom!.detail).toMatch(/^no SBOM .*\(sbom d2 not counted: [^;]*\)$/);
    expect(provenance!.detail).toMatch(/\(provenance d4 not counted: [^;]*\)$/);
    expect(scanAge!.detail).toMatch(/\(scan d1 not counted: [^;]*\)$/);
    expect(scanAge!.detail).not.toContain("vex");
  });

  it("a passing gate is not annotated, and past three documents the rest are counted", () => {
    const many = [1, 2, 3, 4, 5].map((i) => doc("scan", i));
    expect(evaluateGates(parseGateConfig({ sbom: true }), facts({ discountedEvidence: many }))[0]!.detail).toBe("1 SBOM document");
    const r = evaluateGates(parseGateConfig({ maxScanAgeHours: 1 }), facts({ newestScanAt: null, discountedEvidence: many }))[0]!;
    expect(r.detail).toContain("scan d3 not counted");
    expect(r.detail).not.toContain("scan d4");
    expect(r.detail).toContain("and 2 more document(s) for the same reason");
  });
});

describe("parseGateConfig", () => {
  it("lists every bad field", () => {
    expect(() => parseGateConfig({ findings: { max: { high: -1 } }, sbom: "yes", bogus: 1 })).toThrow(GateConfigError);
    try {
      parseGateConfig({ findings: { max: { high: -1 } }, sbom: "yes" });
    } catch (e) {
      expect((e as Error).message).toContain("gates.findings.max.high");
      expect((e as Error).message).toContain("gates.sbom");
    }
  });
});

describe("the gate catalogue", () => {
  it("lists every gate once, in display order, each with its config key, the facts it reads and an explanation", () => {
    expect(GATE_IDS).toEqual(["findings", "sbom", "provenance", "signedEvidence", "previousStage", "basePublisher", "scanAge"]);
    expect(GATES.map((g) => g.configKey)).toEqual(["findings", "sbom", "provenance", "signedEvidence", "previousStage", "basePublisher", "maxScanAgeHours"]);
    for (const g of GATES) {
      expect(g.explanation.length, g.id).toBeGreaterThan(30);
      expect(g.facts.length, g.id).toBeGreaterThan(0);
    }
  });

  it("evaluates every configured gate in catalogue order and skips a gate configured as false", () => {
    const all = parseGateConfig({
      maxScanAgeHours: 24,
      basePublisher: true,
      previousStage: true,
      signedEvidence: true,
      provenance: {},
      sbom: true,
      findings: { max: { critical: 0 } },
    });
    expect(evaluateGates(all, facts()).map((r) => r.gate)).toEqual(GATE_IDS);
    expect(evaluateGates(parseGateConfig({ sbom: false, basePublisher: true }), facts()).map((r) => r.gate)).toEqual(["basePublisher"]);
  });

  it("names the field of a gate's own schema that is wrong, under gates.<key>", () => {
    expect(() => parseGateConfig({ maxScanAgeHours: 0, provenance: { builderIds: [""] } })).toThrow(
      /gates\.provenance\.builderIds\.0: .*; gates\.maxScanAgeHours: |gates\.maxScanAgeHours: .*; gates\.provenance\.builderIds\.0: /,
    );
    expect(() => parseGateConfig({ nope: true })).toThrow(GateConfigError);
  });
});

describe("hasConfiguredGates", () => {
  it("is false exactly when evaluateGates lists nothing whatever the facts: no gate, or every gate configured as false", () => {
    expect(hasConfiguredGates(parseGateConfig({}))).toBe(false);
    expect(hasConfiguredGates(parseGateConfig({ sbom: false, previousStage: false, basePublisher: false, signedEvidence: false }))).toBe(false);
    for (const config of [{ sbom: true }, { maxScanAgeHours: 24 }, { provenance: {} }, { findings: { max: { critical: 0 } } }, { previousStage: true }]) {
      const parsed = parseGateConfig(config);
      expect(hasConfiguredGates(parsed), JSON.stringify(config)).toBe(true);
      expect(evaluateGates(parsed, facts()).length, JSON.stringify(config)).toBe(1);
    }
  });
});

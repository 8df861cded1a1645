import { describe, expect, it, vi } from "vitest";
import { indexPlatforms, parseManifest } from "../oci/manifest";
import { MT } from "../oci/media-types";
import { evaluateGates, parseGateConfig, type GateFacts } from "../policy/gates";
import { CHECKS } from "../signing/verification";
import {
  bulkRevocationItemsColumn,
  gateResultsColumn,
  imageLabelsColumn,
  imagePlatformsColumn,
  JsonColumnError,
  readDisplayJson,
  readJson,
  registryLastSyncInfoColumn,
  registryLastTestResultColumn,
  signatureChecksColumn,
  signatureSignerColumn,
  sigstoreThresholdsColumn,
  stageGatesColumn,
  syncRunErrorsColumn,
  syncRunStatsColumn,
  webhookPayloadColumn,
} from "./json-columns";

const ref = { table: "stages", column: "gates", id: "0b6c5a0e-1111-4222-8333-444455556666" };

const facts = (over: Partial<GateFacts> = {}): GateFacts => ({
  now: new Date("2026-12-01T00:00:00Z"),
  findings: [{ vulnId: "CVE-2026-1000", severity: "high", fixAvailable: true, package: "openssl" }],
  scanCount: 1,
  newestScanAt: new Date("2026-11-30T00:00:00Z"),
  sbomCount: 0,
  provenance: [],
  evidence: [],
  previousStage: null,
  base: { state: "no-base", name: null, detail: "no base annotation" },
  waivers: [{ id: "w1", gate: "sbom", vulnIds: [], reason: "legacy", expiresAt: new Date("2027-01-01T00:00:00Z"), grantedBy: "carol" }],
  ...over,
});

describe("column schemas read what the code writes", () => {
  it("stage gates: the stored configuration (defaults applied) parses to itself", () => {
    const stored = parseGateConfig({
      findings: { max: { critical: 0, high: 3 } },
      sbom: true,
      provenance: { builderIds: ["https://github.com/acme/**"] },
      maxScanAgeHours: 24,
    });
    expect(readJson(stageGatesColumn, JSON.parse(JSON.stringify(stored)), ref)).toEqual(stored);
  });

  it("gate results: what evaluateGates returns (failing, waived, failingIds) round-trips through JSON", () => {
    const results = evaluateGates(parseGateConfig({ findings: { max: { high: 0 } }, sbom: true }), facts());
    expect(results.some((r) => r.waived)).toBe(true);
    expect(results.some((r) => r.failingIds?.length)).toBe(true);
    expect(readJson(gateResultsColumn, JSON.parse(JSON.stringify(results)), { ...ref, table: "promotion_requests", column: "gate_results" })).toEqual(results);
  });

  it("platforms: indexPlatforms of a real OCI index parse", () => {
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest: `sha256:${"a".repeat(64)}`, size: 480, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: MT.ociManifest, digest: `sha256:${"b".repeat(64)}`, size: 481, platform: { os: "linux", architecture: "arm", variant: "v7" } },
      ],
    };
    const parsed = parseManifest(new TextEncoder().encode(JSON.stringify(index)), MT.ociIndex);
    if (parsed.kind !== "index") throw new Error("not an index");
    const platforms = indexPlatforms(parsed.index);
    expect(readJson(imagePlatformsColumn, JSON.parse(JSON.stringify(platforms)), ref)).toEqual(platforms);
  });

  it("sync stats, errors and last sync info as runSync writes them", () => {
    const stats = {
      repositories: 2,
      tags: 5,
      newManifests: 3,
      manifestBodiesFetched: 3,
      tagMoves: 1,
      deleted: 0,
      signaturesChecked: 4,
      artifacts: 2,
      evidenceErrors: 0,
      pendingCompleted: 0,
      durationMs: 812,
    };
    expect(syncRunStatsColumn.parse(stats)).toEqual(stats);
    expect(syncRunErrorsColumn.parse([{ repository: "*", message: "registry unavailable" }])).toHaveLength(1);
    const info = { status: "failed", ...stats, errors: 1, fatal: "registry unavailable", syncRunId: "r1" };
    expect(registryLastSyncInfoColumn.parse(info)).toEqual(info);
  });

  it("connection test results, both outcomes, with the realm note", () => {
    expect(registryLastTestResultColumn.parse({ ok: true, apiVersion: "registry/2.0", realm: "https://auth.example/token" }).ok).toBe(true);
    const failed = {
      ok: false,
      stage: "auth",
      detail: "401",
      status: 401,
      challenge: 'Bearer realm="x"',
      credentialsTried: true,
      realmChanged: true,
      message: "the token realm changed",
    };
    expect(registryLastTestResultColumn.parse(failed)).toEqual(failed);
  });

  it("signature checks and signers as the verifiers return them", () => {
    const checks = [
      { check: CHECKS.payloadDigest, passed: true, detail: "sha256:…" },
      { check: CHECKS.signature, passed: false, detail: "bad" },
      { check: CHECKS.identity, passed: null, detail: "not run" },
    ];
    expect(signatureChecksColumn.parse(checks)).toEqual(checks);
    const cert = {
      subject: "CN=a",
      issuer: "CN=ca",
      serial: "01",
      notBefore: "2026-01-01T00:00:00Z",
      notAfter: "2027-01-01T00:00:00Z",
      fingerprint: `sha256:${"c".repeat(64)}`,
      sans: ["https://github.com/acme/ci"],
      oidcIssuer: null,
    };
    expect(signatureSignerColumn.parse({ kind: "certificate", leaf: cert, chain: [cert] }).kind).toBe("certificate");
    expect(signatureSignerColumn.safeParse({ kind: "jwk", fingerprint: "x" }).success).toBe(false);
  });

  it("trust thresholds are the input schema itself: unknown keys and negatives are refused", () => {
    expect(sigstoreThresholdsColumn.parse({ tlog: 2, timestamp: 1 })).toEqual({ tlog: 2, timestamp: 1 });
    expect(sigstoreThresholdsColumn.safeParse({ tlog: "two" }).success).toBe(false);
    expect(sigstoreThresholdsColumn.safeParse({ tlog: 1, rekor: 1 }).success).toBe(false);
  });

  it("webhook payloads need the event and the time emitEvent puts first", () => {
    expect(webhookPayloadColumn.parse({ event: "request.created", at: "2026-12-01T00:00:00Z", requestId: "r" }).requestId).toBe("r");
    expect(webhookPayloadColumn.safeParse(["request.created"]).success).toBe(false);
  });
});

describe("readJson fails closed", () => {
  it("throws an INTERNAL JsonColumnError naming table, column, row and the bad paths (not the values)", () => {
    let err: unknown;
    try {
      readJson(stageGatesColumn, { findings: { max: { high: "secret-ish value" } }, bogus: true }, ref);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JsonColumnError);
    const e = err as JsonColumnError;
    expect(e).toMatchObject({ code: "INTERNAL", table: "stages", column: "gates", rowId: ref.id });
    expect(e.message).toContain(`stages.gates of row ${ref.id}`);
    expect(e.message).toContain("findings.max.high");
    expect(e.message).not.toContain("secret-ish value");
  });

  it("refuses a bulk revocation item list with one bad item: nothing of it is used", () => {
    const good = {
      approvalId: "a1",
      imageId: "i1",
      registry: "default",
      repository: "app",
      digest: `sha256:${"d".repeat(64)}`,
      stage: "prod",
      status: "signed",
      approvedAt: "2026-12-01T00:00:00Z",
      approver: "alice",
      requester: null,
      reviewers: ["alice"],
      viaIndexOf: null,
    };
    expect(readJson(bulkRevocationItemsColumn, [good], { table: "bulk_revocations", column: "items", id: "b1" })).toHaveLength(1);
    expect(() => readJson(bulkRevocationItemsColumn, [good, { approvalId: 7 }], { table: "bulk_revocations", column: "items", id: "b1" })).toThrow(
      /bulk_revocations\.items of row b1 .*1\.approvalId/,
    );
  });
});

describe("readDisplayJson shows what parses", () => {
  it("keeps the string labels and lists the others as unreadable", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const r = readDisplayJson(
      imageLabelsColumn,
      { maintainer: "ops@example.com", build: { nested: 1 }, n: 3 },
      { table: "images", column: "labels", id: "i1" },
    );
    expect(r).toEqual({ value: { maintainer: "ops@example.com" }, unreadable: ["build", "n"] });
    expect(warn.mock.calls[0]?.[0]).toContain("images.labels of row i1");
    warn.mockRestore();
  });

  it("drops unreadable array items by index, and fields of an object by name", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const errs = readDisplayJson(syncRunErrorsColumn, [{ repository: "a", message: "x" }, "oops", { repository: "b" }], {
      table: "sync_runs",
      column: "errors",
      id: "s1",
    });
    expect(errs).toEqual({ value: [{ repository: "a", message: "x" }], unreadable: ["[1]", "[2]"] });
    const info = readDisplayJson(registryLastSyncInfoColumn, { status: 5, tags: 3, errors: 0 }, { table: "registries", column: "last_sync_info", id: "r1" });
    expect(info).toEqual({ value: { tags: 3, errors: 0 }, unreadable: ["status"] });
    vi.restoreAllMocks();
  });

  it("a value of the wrong kind altogether is null, marked as the whole value", () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    expect(readDisplayJson(imagePlatformsColumn, "linux/amd64", { table: "images", column: "platforms", id: "i2" })).toEqual({
      value: null,
      unreadable: ["(value)"],
    });
    expect(readDisplayJson(registryLastTestResultColumn, { detail: "no ok field" }, { table: "registries", column: "last_test_result", id: "r2" })).toEqual({
      value: null,
      unreadable: ["(value)"],
    });
    vi.restoreAllMocks();
  });
});

// Four eyes against the findings gate: a requester's own unsigned scan is discounted for their request, but its
// findings still count, since they can only add. Its aliases must not: a finding is merged with every other sharing
// an id or alias, and a merged finding counts once under one id. Found by review: with CVE-A listed under the alias
// CVE-B, the requester's scan merged two counted high findings into one (under the limit), or merged a critical GHSA
// into a low CVE that a waiver covers. Each test asserts the gate still refuses; both failed before the fix. The last
// test: an index needs the provenance and SBOM gates satisfied for each of its platforms.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { addTrustedKey } from "../keys/add-trusted-key";
import { upsertStage } from "../stages/upsert-stage";
import { createUser } from "../users/create-user";
import { grantWaiver } from "../waivers/grant-waiver";
import { requestPromotion } from "./request-promotion";
import { reviewRequest } from "./review-request";
import { gatherGateFacts } from "./gather-gate-facts";
import { evaluateGates } from "../../policy/gates";
import { stageGates } from "../stages/stage-gates";

const system: Actor = { kind: "system", label: "discounted-aliases" };
const INTOTO = "application/vnd.in-toto+json";
let client: RegistryClient;
let scannerKey: KeyObject;
let builderKey: KeyObject;

function signStatement(key: KeyObject, statement: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(statement));
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${INTOTO.length} ${INTOTO} ${payload.length} `), payload]);
  const sig = sign("sha256", pae, { key, dsaEncoding: "der" }).toString("base64");
  return Buffer.from(JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] }));
}

function trivy(vulns: { id: string; vendorIds?: string[]; severity: string }[], meta?: { imageId?: string; repoDigests?: string[] }) {
  return {
    SchemaVersion: 2,
    ArtifactName: "app",
    ArtifactType: "container_image",
    ...(meta ? { Metadata: { ...(meta.imageId ? { ImageID: meta.imageId } : {}), RepoDigests: meta.repoDigests ?? [] } } : {}),
    Results: [
      {
        Target: "app (debian 12)",
        Class: "os-pkgs",
        Type: "debian",
        Vulnerabilities: vulns.map((v) => ({
          VulnerabilityID: v.id,
          ...(v.vendorIds ? { VendorIDs: v.vendorIds } : {}),
          PkgName: "openssl",
          InstalledVersion: "3.0.11-1",
          FixedVersion: "3.0.15-1",
          Severity: v.severity,
        })),
      },
    ],
  };
}

function signedVuln(repo: string, subjectDigest: string, result: unknown): Buffer {
  const payload = Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: repo, digest: { sha256: subjectDigest.slice("sha256:".length) } }],
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      predicate: {
        invocation: { uri: `https://ci.example.com/run/${randomUUID()}` },
        scanner: { uri: "pkg:github/aquasecurity/trivy@0.50.0", version: "0.50.0", result },
        metadata: { scanFinishedOn: new Date().toISOString() },
      },
    }),
  );
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${INTOTO.length} ${INTOTO} ${payload.length} `), payload]);
  const sig = sign("sha256", pae, { key: scannerKey, dsaEncoding: "der" }).toString("base64");
  return Buffer.from(JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] }));
}

const upload = async (who: string, imageId: string, bytes: Buffer) =>
  (await ingestEvidence({ actor: await userActor(who), imageId, bytes, source: "upload" })).documents[0]!;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await createUser({ actor: system, email: "ci@example.com", name: "CI Uploader", role: "developer", password: "ci-demo-pass-123" });
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "leads", members: ["carol@example.com"] });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  scannerKey = privateKey;
  await addTrustedKey({
    actor: system,
    name: "forge-scanner",
    pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    role: "scanner",
    scope: ["forge/**"],
  });
  const b = generateKeyPairSync("ec", { namedCurve: "P-256" });
  builderKey = b.privateKey;
  await addTrustedKey({
    actor: system,
    name: "forge-builder",
    pem: b.publicKey.export({ format: "pem", type: "spki" }).toString(),
    role: "builder",
    scope: ["forge/**"],
    builderIds: ["https://ci.example.com/**"],
  });
  await upsertStage({
    actor: system,
    name: "build",
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      waiverGroup: "leads",
      gates: { findings: { max: { critical: 0, high: 1 }, count: "all" }, signedEvidence: true },
    },
  });
  await upsertStage({
    actor: system,
    name: "test",
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      gates: { sbom: true, provenance: { builderIds: ["https://ci.example.com/**"] }, signedEvidence: true },
    },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("a requester's own scan with aliases that would merge counted findings", () => {
  async function scenario(
    name: string,
    ciVulns: { id: string; severity: string }[],
    ownVuln: { id: string; vendorIds: string[]; severity: string },
    waive?: string,
  ) {
    const repo = `forge/${name}-${randomUUID().slice(0, 8)}`;
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${randomUUID()}` }] });
    await pushImage(client, repo, img, ["v1"]);
    await syncRegistry({ actor: system, repositories: [repo] });
    const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
    // CI's real scan, signed by the trusted scanner key (the stage requires signed evidence).
    await upload("ci@example.com", row.id, signedVuln(repo, img.digest, trivy(ciVulns)));
    if (waive)
      await grantWaiver({
        actor: await userActor("carol@example.com"),
        registry: "default",
        stage: "build",
        gate: "findings",
        vulnIds: [waive],
        repository: repo,
        digest: img.digest,
        reason: "low, accepted risk",
        expiresAt: new Date(Date.now() + 86_400_000),
      });
    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      repository: repo,
      digest: img.digest as Digest,
      stage: "build",
      note: "x",
    });
    const stageId = (await db.stage.findFirstOrThrow({ where: { name: "build" } })).id;
    const dev = await db.user.findFirstOrThrow({ where: { email: "dev@example.com" } });
    const alice = await db.user.findFirstOrThrow({ where: { email: "alice@example.com" } });
    const gate = async () =>
      evaluateGates(
        stageGates(await db.stage.findFirstOrThrow({ where: { id: stageId } })),
        await gatherGateFacts(db, { imageId: row.id, stageId, requesterId: dev.id, approverIds: [alice.id] }),
      ).map((g) => `${g.gate}:${g.passed}:${g.detail}`);
    const before = await gate();
    // The requester's own unsigned "scan" (discounted for the request): one low finding with a fake alias.
    const own = await upload("dev@example.com", row.id, Buffer.from(JSON.stringify(trivy([ownVuln]))));
    expect(own.signatureStatus).toBe("unsigned");
    const after = await gate();
    const outcome = await reviewRequest({
      actor: await userActor("alice@example.com"),
      requestId: req.id,
      decision: "approve",
      comment: "gates pass",
      later: () => {},
    }).then(
      (o) => ({ status: o.status as string, message: "" }),
      (e: { code?: string; message?: string }) => ({ status: e.code ?? "?", message: e.message ?? "" }),
    );
    return { before, after, outcome };
  }

  it("does not lower the count of high findings", async () => {
    const r = await scenario(
      "count",
      [
        { id: "CVE-2024-1111", severity: "HIGH" },
        { id: "CVE-2024-2222", severity: "HIGH" },
      ],
      { id: "CVE-2024-1111", vendorIds: ["CVE-2024-2222"], severity: "LOW" },
    );
    expect(r.before.join()).toContain("high findings 2 > 1");
    expect(r.outcome.status, "2 high findings > 1 allowed, yet approved").toBe("POLICY_VIOLATION");
  });

  it("does not let the waiver of a low CVE cover an unwaived critical GHSA", async () => {
    const r = await scenario(
      "waiver",
      [
        { id: "CVE-2024-0001", severity: "LOW" },
        { id: "GHSA-2222-3333-4444", severity: "CRITICAL" },
      ],
      { id: "CVE-2024-0001", vendorIds: ["GHSA-2222-3333-4444"], severity: "LOW" },
      "CVE-2024-0001",
    );
    expect(r.before.join()).toContain("critical findings 1 > 0");
    expect(r.outcome.status, "a critical finding hidden by the waiver of another CVE").toBe("POLICY_VIOLATION");
  });

  // Found by review: the provenance and sbom gates passed an index on CI's signed statements of its amd64 manifest
  // alone, while the index's signature also admits its arm64 manifest, built on a laptop.
  it("an index needs provenance and an SBOM of every platform, not of one", async () => {
    const repo = `forge/idx-${randomUUID().slice(0, 8)}`;
    // CI built amd64 (and signed its provenance and SBOM); the developer built arm64 and pushed an index of both.
    const amd64 = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd64 from CI ${randomUUID()}` }] });
    const arm64 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm64 from a laptop ${randomUUID()}` }] });
    const index = await pushIndex(client, repo, [amd64, arm64], ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const idxRow = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });

    const provenanceOf = (digest: string) =>
      signStatement(builderKey, {
        _type: "https://in-toto.io/Statement/v1",
        subject: [{ name: repo, digest: { sha256: digest.slice(7) } }],
        predicateType: "https://slsa.dev/provenance/v1",
        predicate: {
          buildDefinition: { buildType: "https://example.com/build/v1", externalParameters: {} },
          runDetails: { builder: { id: "https://ci.example.com/builder@v1" } },
        },
      });
    const sbomOf = (digest: string) =>
      signStatement(scannerKey, {
        _type: "https://in-toto.io/Statement/v1",
        subject: [{ name: repo, digest: { sha256: digest.slice(7) } }],
        predicateType: "https://cyclonedx.org/bom",
        predicate: { bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components: [{ type: "library", name: "lib-a", version: "1.0.0" }] },
      });
    // The requester uploads CI's signed statements of amd64 (signed: they count whoever uploads them) to the index.
    const p = await upload("dev@example.com", idxRow.id, provenanceOf(amd64.digest));
    const b = await upload("dev@example.com", idxRow.id, sbomOf(amd64.digest));
    expect([p.subjectDigest, p.signatureStatus, b.subjectDigest, b.signatureStatus]).toEqual([amd64.digest, "signed", amd64.digest, "signed"]);
    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      repository: repo,
      digest: index as Digest,
      stage: "test",
      note: "multi-arch",
    });
    const alice = await userActor("alice@example.com");
    const approve = () =>
      reviewRequest({ actor: alice!, requestId: req.id, decision: "approve", comment: "gates pass", later: () => {} }).then(
        (o) => ({ status: o.status as string, message: "" }),
        (e: { code?: string; message?: string }) => ({ status: e.code ?? "?", message: e.message ?? "" }),
      );
    const refused = await approve();
    expect(refused.status, "arm64 has no provenance or SBOM of its own, yet the index (and so arm64) was signed").toBe("POLICY_VIOLATION");
    expect(refused.message).toContain("no SBOM covers linux/arm64");
    expect(refused.message).toContain("no provenance statement covers linux/arm64");
    // CI's statements of arm64 as well: now every platform is covered.
    await upload("ci@example.com", idxRow.id, provenanceOf(arm64.digest));
    await upload("ci@example.com", idxRow.id, sbomOf(arm64.digest));
    expect((await approve()).status).toBe("signed");
  });
});

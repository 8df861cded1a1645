// An index runs as any of its platforms, so its findings gate and scan age need a scan of every platform (by its
// manifest or config digest) or of the index as a whole. Trivy scans one platform of an index (the host's): a scan of
// the amd64 image says nothing of an arm64 image a developer put next to it, and admission allows the index digest
// (and its platform manifests through it) on every node.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { requestPromotion } from "./request-promotion";
import { reviewRequest } from "./review-request";
import { upsertStage } from "../stages/upsert-stage";
import { evaluateGates, parseGateConfig } from "../../policy/gates";
import { gatherGateFacts, MAX_GATE_FINDING_ROWS } from "./gather-gate-facts";

/** A Trivy report of one image: its config as ImageID, and the digest it was pulled by as RepoDigests. */
function trivyScan(repo: string, config: string | null, pulledBy: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: `${repo}@${pulledBy}`,
      ArtifactType: "container_image",
      Metadata: { ...(config ? { ImageID: config } : {}), RepoDigests: [`${repo}@${pulledBy}`] },
      Results: [],
    }),
  );
}

/** A pushed and synced two-platform index (amd64, arm64) with the stored rows of the index and its platforms. */
async function twoPlatformIndex() {
  const repo = `idxscan/app-${randomUUID().slice(0, 8)}`;
  const amd64 = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd64 ${randomUUID()}` }] });
  const arm64 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm64 ${randomUUID()}` }] });
  const index = await pushIndex(client, repo, [amd64, arm64], ["v1"]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });
  const config = async (digest: string) =>
    (await db.image.findFirstOrThrow({ where: { digest, repository: { name: repo } }, select: { configDigest: true } })).configDigest!;
  return {
    repo,
    index,
    row,
    amd64: { digest: amd64.digest, config: await config(amd64.digest) },
    arm64: { digest: arm64.digest, config: await config(arm64.digest) },
  };
}

async function findingsGate(imageId: string) {
  const stageId = (await db.stage.findFirstOrThrow({ where: { name: "test" }, select: { id: true } })).id;
  const facts = await gatherGateFacts(db, { imageId, stageId });
  return { facts, result: evaluateGates(parseGateConfig({ findings: { max: { critical: 0, high: 0 } }, maxScanAgeHours: 24 }), facts) };
}

const system: Actor = { kind: "system", label: "index-platform-scans" };
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } } },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("an index's findings gate and its platforms", () => {
  it("a scan of one platform does not satisfy the findings gate of an index whose other platform was never scanned", async () => {
    const repo = `idxscan/app-${randomUUID().slice(0, 8)}`;
    const amd64 = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd64 ${Date.now()}` }] });
    const arm64 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm64, never scanned ${Date.now()}` }] });
    const index = await pushIndex(client, repo, [amd64, arm64], ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const row = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });

    // CI scans the amd64 image (what `trivy image` does on an amd64 runner) and files it on the index: accepted,
    // since the document names one of the index's platforms.
    const scan = Buffer.from(
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: `${repo}@${amd64.digest}`,
        ArtifactType: "container_image",
        Metadata: { RepoDigests: [`${repo}@${amd64.digest}`] },
        Results: [],
      }),
    );
    await ingestEvidence({ actor: await userActor("admin@example.com"), imageId: row.id, bytes: scan, source: "upload" });

    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      repository: repo,
      digest: index as Digest,
      stage: "test",
      note: "multi-arch",
    });
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "scan is clean" }).then(
      (o) => o.status,
      (e: { code?: string }) => e.code,
    );
    // The arm64 platform has no scan: the gate fails naming it, and nothing is signed on the strength of the amd64 scan.
    const stageId = (await db.stage.findFirstOrThrow({ where: { name: "test" }, select: { id: true } })).id;
    const findings = evaluateGates(
      parseGateConfig({ findings: { max: { critical: 0, high: 0 } } }),
      await gatherGateFacts(db, { imageId: row.id, stageId }),
    )[0]!;
    expect(findings.passed).toBe(false);
    expect(findings.detail).toContain("no scan covers linux/arm64");
    // What admission then says about the arm64 image itself (a platform manifest is judged by its index's approval).
    const arm64Admitted = (
      await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${repo}@${arm64.digest}`, stage: "test", refuseTags: true })
    ).allowed;
    expect({ outcome, arm64Admitted }, "the index was approved although its arm64 platform was never scanned").toEqual({
      outcome: "POLICY_VIOLATION",
      arm64Admitted: false,
    });
  });

  it("passes once every platform has its own scan, by manifest or by config digest; a Trivy report of the index names the platform it scanned", async () => {
    const { repo, index, row, amd64, arm64 } = await twoPlatformIndex();
    const admin = await userActor("admin@example.com");
    // `trivy image repo:v1` on an amd64 runner: pulled by the index digest, ImageID the amd64 config. It covers amd64 only.
    await ingestEvidence({ actor: admin, imageId: row.id, bytes: trivyScan(repo, amd64.config, index), source: "upload" });
    expect(await db.evidenceDocument.findFirstOrThrow({ where: { imageId: row.id }, select: { subjectDigest: true } })).toEqual({
      subjectDigest: amd64.config,
    });
    let gate = await findingsGate(row.id);
    expect(gate.facts.uncoveredPlatforms).toEqual(["linux/arm64"]);
    expect(gate.result.map((g) => [g.gate, g.passed])).toEqual([
      ["findings", false],
      ["scanAge", false],
    ]);
    expect(gate.result[1]!.detail).toContain("no scan covers linux/arm64");
    // The arm64 runner's report, filed on the index.
    await ingestEvidence({ actor: admin, imageId: row.id, bytes: trivyScan(repo, arm64.config, arm64.digest), source: "upload" });
    gate = await findingsGate(row.id);
    expect(gate.facts.uncoveredPlatforms).toEqual([]);
    expect(gate.result.every((g) => g.passed)).toBe(true);
  });

  it("a scan of the index as a whole covers every platform", async () => {
    const { repo, index, row } = await twoPlatformIndex();
    await ingestEvidence({ actor: await userActor("admin@example.com"), imageId: row.id, bytes: trivyScan(repo, null, index), source: "upload" });
    const gate = await findingsGate(row.id);
    expect(gate.facts.uncoveredPlatforms).toEqual([]);
    expect(gate.result.every((g) => g.passed)).toBe(true);
  });

  it("an image with more finding rows than a judgement reads fails the findings gate closed: a flood of lows cannot hide a critical", async () => {
    const { repo, index, row } = await twoPlatformIndex();
    const { document } = await ingestEvidence({
      actor: await userActor("admin@example.com"),
      imageId: row.id,
      bytes: trivyScan(repo, null, index),
      source: "upload",
    });
    // Lows are not limited by this stage (critical 0, high 0): up to the cap the gate judges them and passes.
    const lows = (from: number, to: number) => db.$executeRaw`
      INSERT INTO findings (id, document_id, image_id, vuln_id, severity, package, fix_available, status, source)
      SELECT gen_random_uuid(), ${document.id}::uuid, ${row.id}::uuid, 'CVE-2026-' || g, 'low', 'pkg-' || g, false, 'affected', 'trivy'
        FROM generate_series(${from}::int, ${to}::int) g`;
    await lows(1, MAX_GATE_FINDING_ROWS);
    let gate = await findingsGate(row.id);
    expect(gate.facts.findingsTruncated).toBeUndefined();
    expect(gate.result[0]).toMatchObject({ gate: "findings", passed: true });
    // One more row: what was read is no longer all there is (here, the critical may be the row left out).
    await db.$executeRaw`
      INSERT INTO findings (id, document_id, image_id, vuln_id, severity, package, fix_available, status, source)
      VALUES (gen_random_uuid(), ${document.id}::uuid, ${row.id}::uuid, 'CVE-2026-99999', 'critical', 'openssl', true, 'affected', 'trivy')`;
    gate = await findingsGate(row.id);
    expect(gate.facts.findingsTruncated).toEqual({ limit: MAX_GATE_FINDING_ROWS });
    expect(gate.result[0]!.passed).toBe(false);
    expect(gate.result[0]!.detail).toMatch(/^more than 50,000 finding rows/);
  });

  it("an entry a developer labels unknown/unknown is a platform whose scan is required, and its digest is not admitted on the index's approval", async () => {
    const repo = `idxscan/unknown-${randomUUID().slice(0, 8)}`;
    const amd64 = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd64 ${randomUUID()}` }] });
    // A runnable image, labelled as buildx labels its attestation manifests, but without buildx's annotation.
    const hidden = buildImage({ os: "unknown", architecture: "unknown", layers: [{ "app.txt": `runs, never scanned ${randomUUID()}` }] });
    // A real buildx attestation manifest entry: unknown/unknown, attestation-manifest, naming the amd64 entry.
    const attestation = {
      ...buildImage({ os: "unknown", architecture: "unknown", layers: [{ "statement.json": `{"_type":"https://in-toto.io/Statement/v0.1"}` }] }),
      entryAnnotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64.digest },
    };
    const index = await pushIndex(client, repo, [amd64, hidden, attestation], ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const row = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });
    const admin = await userActor("admin@example.com");
    await ingestEvidence({ actor: admin, imageId: row.id, bytes: trivyScan(repo, null, amd64.digest), source: "upload" });

    const gate = await findingsGate(row.id);
    // The attestation needs no scan; the unlabelled entry does, and is named by its digest.
    expect(gate.facts.uncoveredPlatforms).toEqual([`${hidden.digest} (no platform stated)`]);
    expect(gate.result.map((g) => g.passed)).toEqual([false, false]);
    expect(gate.result[0]!.detail).toContain(hidden.digest);

    const req = await requestPromotion({ actor: await userActor("dev@example.com"), repository: repo, digest: index as Digest, stage: "test", note: "x" });
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "ok" }).then(
      (o) => o.status,
      (e: { code?: string }) => e.code,
    );
    const hiddenAdmitted = (
      await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${repo}@${hidden.digest}`, stage: "test", refuseTags: true })
    ).allowed;
    expect({ outcome, hiddenAdmitted }, "the index was approved although an unknown/unknown entry that runs was never scanned").toEqual({
      outcome: "POLICY_VIOLATION",
      hiddenAdmitted: false,
    });

    // Indexes synced before the attestation mark: the migration marks the entries from the stored manifest, the same way.
    const synced = await db.image.findUniqueOrThrow({ where: { id: row.id }, select: { platforms: true } });
    expect((synced.platforms as { attestation?: true }[]).map((p) => p.attestation ?? false)).toEqual([false, false, true]);
    const unmarked = (synced.platforms as Record<string, unknown>[]).map(({ attestation: _a, ...p }) => p);
    await db.$executeRaw`UPDATE images SET platforms = ${JSON.stringify(unmarked)}::jsonb WHERE id = ${row.id}::uuid`;
    await db.$executeRawUnsafe(readFileSync("prisma/migrations/20261209200000_index_attestation_entries/migration.sql", "utf8"));
    expect((await db.image.findUniqueOrThrow({ where: { id: row.id }, select: { platforms: true } })).platforms).toEqual(synced.platforms);

    // Its own scan covers it; the attestation entry still needs none.
    await ingestEvidence({ actor: admin, imageId: row.id, bytes: trivyScan(repo, null, hidden.digest), source: "upload" });
    expect((await findingsGate(row.id)).facts.uncoveredPlatforms).toEqual([]);

    // Approved now. Its platforms are admitted on the index's approval; the attestation manifest, which needed no scan,
    // is not (it is not something to run).
    const again = await requestPromotion({ actor: await userActor("dev@example.com"), repository: repo, digest: index as Digest, stage: "test", note: "y" });
    expect((await reviewRequest({ actor: await userActor("alice@example.com"), requestId: again.id, decision: "approve", comment: "ok" })).status).toBe(
      "signed",
    );
    const admit = (digest: string) => evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${repo}@${digest}`, stage: "test", refuseTags: true });
    expect((await admit(hidden.digest)).allowed).toBe(true);
    expect((await admit(amd64.digest)).allowed).toBe(true);
    const att = await admit(attestation.digest);
    expect(att.allowed).toBe(false);
    expect(att.reasons.join(" ")).toContain("is an attestation manifest of index");
  });
});

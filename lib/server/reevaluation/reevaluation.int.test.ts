import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { graceEnds, requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { getImage } from "../images/get-image";
import { listImages, parseListImagesQuery } from "../images/list-images";
import { syncRegistry } from "../images/sync-registry";
import { listMyImages } from "../promotions/list-my-images";
import { confirmBulkRevocation } from "../revocations/confirm-bulk-revocation";
import { getBulkRevocation } from "../revocations/get-bulk-revocation";
import { runBulkRevocation } from "../revocations/run-bulk-revocation";
import { startBulkRevocation } from "../revocations/start-bulk-revocation";
import { upsertStage } from "../stages/upsert-stage";
import { grantWaiver } from "../waivers/grant-waiver";
import { revokeWaiver } from "../waivers/revoke-waiver";
import { deliverWebhooks } from "../webhooks/deliver-webhooks";
import { createWebhook } from "../webhooks/create-webhook";
import { foldStagedAuditEvents } from "../audit/fold-staged-audit-events";
import { reevaluateApprovals } from "./reevaluate-approvals";
import { revokeRegressedApprovals } from "./revoke-regressed-approvals";
import { sweepTimeTriggers } from "./sweep-time-triggers";

const ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
const CVE = "CVE-2021-23337";
const system: Actor = { kind: "system", label: "reevaluation-test" };
let client: RegistryClient;
let n = 0;
let server: Server;
const got: { event: string; body: Record<string, unknown> }[] = [];

const sbom = (lodash: string) =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name: "lodash", version: lodash, purl: `pkg:npm/lodash@${lodash}` }],
    }),
  );
const emptyScan = () => Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: `x-${randomUUID()}`, ArtifactType: "container_image", Results: [] }));

async function approvedImage(repo: string, stage: string, lodash: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  await ingestEvidence({ actor: system, imageId: row.id, bytes: emptyScan(), source: "upload" });
  await ingestEvidence({ actor: system, imageId: row.id, bytes: sbom(lodash), source: "upload" });
  const a = await requestAndApprove({
    actor: await userActor("alice@example.com"),
    registry: "default",
    repository: repo,
    digest: img.digest,
    stage,
    comment: "ok",
  });
  return { imageId: row.id, digest: img.digest as Digest, approvalId: a.id, repo };
}

async function sigLayerCount(repo: string, digest: Digest) {
  const m = await client.getManifest(repo, cosignTag(digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  return p.kind === "manifest" ? p.manifest.layers.length : -1;
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "leads", members: ["carol@example.com"] });
  await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: {} } });
  await upsertStage({
    actor: system,
    name: "test",
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      waiverGroup: "leads",
      gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } },
      onRegression: "flag",
    },
  });
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      // Webhooks are CloudEvents 1.0 (structured JSON): the event is the type's suffix, the payload its data.
      const j = JSON.parse(body) as { type: string; data: Record<string, unknown> };
      got.push({ event: j.type.replace(/^dev\.imprimatur\./, ""), body: j.data });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  await createWebhook({
    actor: await userActor("admin@example.com"),
    name: "aging",
    url: `http://127.0.0.1:${port}/hook`,
    events: ["image.at-risk", "revocation.bulk", "approval.revoked"],
  });
  // The setup's own stage changes asked for a full re-evaluation; drain it so each test starts clean.
  await reevaluateApprovals();
});

afterAll(async () => {
  server?.close();
  await disconnectDb();
});

async function delivered(event: string, match: (b: Record<string, unknown>) => boolean) {
  for (let i = 0; i < 50; i++) {
    await deliverWebhooks();
    const hit = got.find((g) => g.event === event && match(g.body));
    if (hit) return hit.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

describe("re-evaluation after an advisory import", () => {
  it("flags an approved image whose gates no longer hold: list filter, image page, /my, verify warning, webhook; a waiver lifts it", async () => {
    const img = await approvedImage("reeval/app", "test", "4.17.20");
    const clean = await approvedImage("reeval/clean", "test", "4.17.21");
    await reevaluateApprovals();
    expect(await db.stageRisk.count()).toBe(0);

    await importAdvisories({ actor: system, bytes: ADVISORY, origin: "test" });
    // Requested in the import's transaction: the image with the match (and only it).
    expect((await db.reevaluationRequest.findMany({ where: { trigger: "advisory" } })).map((r) => r.imageId)).toEqual([img.imageId]);
    const r = await reevaluateApprovals();
    expect(r).toMatchObject({ atRisk: 1 });
    expect(await db.reevaluationRequest.count()).toBe(0);

    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } });
    expect(risk).toMatchObject({ approvalId: img.approvalId, revokeAt: null });
    expect(risk.reasons.join(" ")).toContain(CVE);

    const list = await listImages({ actor: system, query: parseListImagesQuery({ atRisk: "1" }) });
    expect(list.items.map((i) => i.digest)).toEqual([img.digest]);
    expect(list.items[0]!.atRisk).toEqual([expect.objectContaining({ stage: "test", since: risk.since.toISOString() })]);
    const page = await getImage({ actor: system, registry: "default", repository: img.repo, digest: img.digest });
    expect(page.stages.find((s) => s.stage === "test")!.atRisk).toMatchObject({ since: risk.since.toISOString(), onRegression: "flag" });
    expect(page.stages.find((s) => s.stage === "build")!.atRisk).toBeNull();
    const mine = await listMyImages({ actor: await userActor("dev@example.com") });
    expect(mine.find((m) => m.digest === img.digest)!.atRisk).toHaveLength(1);
    expect(mine.find((m) => m.digest === clean.digest)!.atRisk).toHaveLength(0);

    // flag: verify still allows, and says why it worries.
    const v = await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${img.repo}@${img.digest}`, stage: "test", refuseTags: false });
    expect(v.allowed).toBe(true);
    expect(v.reasons.at(-1)).toMatch(new RegExp(`^warning: at risk since .*${CVE}`));

    const hook = await delivered("image.at-risk", (b) => b.digest === img.digest);
    expect(hook).toMatchObject({ stage: "test", repository: img.repo, approvalId: img.approvalId });
    await foldStagedAuditEvents();
    expect(await db.auditEvent.count({ where: { action: "image.at-risk", targetDigest: img.digest } })).toBe(1);

    // Judging again changes nothing (idempotent): no second event.
    await db.reevaluationRequest.create({ data: { imageId: img.imageId, trigger: "manual" } });
    expect(await reevaluateApprovals()).toMatchObject({ evaluated: 1, atRisk: 0, resolved: 0 });
    await foldStagedAuditEvents();
    expect(await db.auditEvent.count({ where: { action: "image.at-risk", targetDigest: img.digest } })).toBe(1);

    // A waiver for the CVE (granted by the stage's waiver group) lifts it at the next re-evaluation.
    const w = await grantWaiver({
      actor: await userActor("carol@example.com"),
      stage: "test",
      gate: "findings",
      vulnIds: [CVE],
      registry: "default",
      repository: img.repo,
      digest: img.digest,
      reason: "not reachable in this service",
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    expect(await reevaluateApprovals()).toMatchObject({ resolved: 1 });
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);

    // Revoking the waiver puts it back at risk; under revoke-after it is revoked once the grace period passed.
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
    await revokeWaiver({ actor: await userActor("carol@example.com"), waiverId: w.id, reason: "reconsidered" });
    await reevaluateApprovals();
    const again = await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } });
    expect(again.revokeAt!.getTime() - again.since.getTime()).toBe(3_600_000);
    expect(await revokeRegressedApprovals({ now: new Date() })).toEqual({ revoked: 0, spared: 0 });
    // A replica whose clock runs two hours ahead revokes nothing: verify still admits it by the database's clock.
    expect(await revokeRegressedApprovals({ now: new Date(Date.now() + 2 * 3_600_000) })).toEqual({ revoked: 0, spared: 0 });
    expect(await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } })).toMatchObject({ revokedAt: null });
    await graceEnds(img.imageId);
    const out = await revokeRegressedApprovals({ now: new Date() });
    expect(out).toEqual({ revoked: 1, spared: 0 });
    const approval = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    expect(approval).toMatchObject({ revocationSource: "regression" });
    expect(approval.revokedAt).not.toBeNull();
    const denied = await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${img.repo}@${img.digest}`, stage: "test", refuseTags: false });
    expect(denied.allowed).toBe(false);
    expect(denied.reasons.join(" ")).toMatch(/revoked/);
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "flag" } });
  });

  it("a stage switched from flag to revoke-after starts the grace period of approvals already at risk", async () => {
    const img = await approvedImage("reeval/switched", "test", "4.17.21");
    // A later SBOM brings the vulnerable lodash: matched against the stored advisory, at risk under "flag".
    await ingestEvidence({ actor: system, imageId: img.imageId, bytes: sbom("4.17.20"), source: "upload" });
    await reevaluateApprovals();
    expect(await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } })).toMatchObject({ revokeAt: null });

    await upsertStage({ actor: system, name: "test", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } });
    expect(risk.revokeAt).not.toBeNull();
    await graceEnds(img.imageId);
    expect(await revokeRegressedApprovals({ now: new Date() })).toEqual({ revoked: 1, spared: 0 });
    expect((await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } })).revocationSource).toBe("regression");

    // Back to flag, then revoke-after again: a risk spared while the stage said "flag" gets a grace period anew.
    const other = await approvedImage("reeval/switched-twice", "test", "4.17.21");
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "flag" } });
    await ingestEvidence({ actor: system, imageId: other.imageId, bytes: sbom("4.17.20"), source: "upload" });
    await reevaluateApprovals();
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
    await reevaluateApprovals();
    expect((await db.stageRisk.findFirstOrThrow({ where: { imageId: other.imageId } })).revokeAt).not.toBeNull();
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "flag" } });
    await reevaluateApprovals();
    expect((await db.stageRisk.findFirstOrThrow({ where: { imageId: other.imageId } })).revokeAt).toBeNull();
    expect(await revokeRegressedApprovals({ now: new Date(Date.now() + 2 * 3_600_000) })).toEqual({ revoked: 0, spared: 0 });
  });

  it("under revoke-after, verify denies once the grace period is over, before the job has revoked the approval", async () => {
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
    const img = await approvedImage("reeval/due", "test", "4.17.21");
    await ingestEvidence({ actor: system, imageId: img.imageId, bytes: sbom("4.17.20"), source: "upload" });
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } });
    const ref = `${new URL(process.env.REGISTRY_URL!).host}/${img.repo}@${img.digest}`;
    // Within the grace period: allowed, with the warning; the stored decision is judged again when it ends.
    expect(await evaluateImage({ image: ref, stage: "test", refuseTags: false })).toMatchObject({ allowed: true });
    const stored = await db.$queryRaw<{ valid_until: Date | null }[]>`
      SELECT d.valid_until FROM stage_decisions d JOIN stages s ON s.id = d.stage_id WHERE d.image_id = ${img.imageId}::uuid AND s.name = 'test'`;
    expect(stored[0]!.valid_until?.getTime()).toBe(risk.revokeAt!.getTime());

    // The grace period ends (moved into the past, as time would) and no job has run: denied at once.
    await db.stageRisk.update({ where: { id: risk.id }, data: { revokeAt: new Date(Date.now() - 1000) } });
    const due = await evaluateImage({ image: ref, stage: "test", refuseTags: false });
    expect(due.allowed).toBe(false);
    expect(due.reasons.join(" ")).toMatch(/approval revoked: revocation due: at risk since .* past its grace period/);
    expect(await revokeRegressedApprovals({ now: new Date() })).toEqual({ revoked: 1, spared: 0 });
    const revoked = await evaluateImage({ image: ref, stage: "test", refuseTags: false });
    expect(revoked.allowed).toBe(false);
    expect(revoked.reasons.join(" ")).toMatch(/revoked/);
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "flag" } });
  });

  it("a waiver that expires and a scan that ages out ask for re-evaluation", async () => {
    await reevaluateApprovals();
    await sweepTimeTriggers();
    const img = await approvedImage("reeval/ttl", "build", "1.0.0");
    // A replica whose clock runs two hours ahead sweeps no further than the database's clock: the waivers and scans
    // of the next two hours are still in the next sweep's interval (found by review; it used to mark them swept).
    await sweepTimeTriggers({ now: new Date(Date.now() + 2 * 3_600_000) });
    const [ahead] = await db.$queryRaw<{ ok: boolean }[]>`SELECT last_at <= now() AS ok FROM reevaluation_sweeps WHERE id = 1`;
    expect(ahead!.ok).toBe(true);
    // The sweep judges by the database's clock: time passes here by moving the last sweep back two minutes.
    const t0 = new Date();
    await db.$executeRaw`UPDATE reevaluation_sweeps SET last_at = ${new Date(t0.getTime() - 120_000)} WHERE id = 1`;
    await db.reevaluationRequest.deleteMany();
    // The build stage has no waiver group: the waiver row is written directly to test the sweep on expiry.
    const admin = await db.user.findUniqueOrThrow({ where: { email: "admin@example.com" } });
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    const repo = await db.repository.findFirstOrThrow({ where: { name: img.repo } });
    await db.waiver.create({
      data: {
        stageId: stage.id,
        gate: "sbom",
        repositoryId: repo.id,
        digest: img.digest,
        reason: "x",
        // Expired a minute ago, after the last sweep.
        expiresAt: new Date(t0.getTime() - 60_000),
        grantedById: admin.id,
      },
    });
    await db.reevaluationRequest.deleteMany();
    const r = await sweepTimeTriggers();
    expect(r.requested).toBeGreaterThanOrEqual(1);
    expect((await db.reevaluationRequest.findMany({ where: { trigger: "waiver" } })).map((x) => x.imageId)).toContain(img.imageId);
    // Sweeping the same interval again asks for nothing.
    await db.reevaluationRequest.deleteMany();
    await sweepTimeTriggers();
    expect(await db.reevaluationRequest.count({ where: { trigger: "waiver", imageId: img.imageId } })).toBe(0);
    // The newest scan passed a 1-hour limit within the last sweep window (of three hours): scans backdated two hours.
    await upsertStage({ actor: system, name: "build", settings: { gates: { maxScanAgeHours: 1 } } });
    await db.$executeRaw`UPDATE evidence_documents SET uploaded_at = uploaded_at - interval '2 hours', scanned_at = scanned_at - interval '2 hours',
      first_seen_at = first_seen_at - interval '2 hours' WHERE image_id = ${img.imageId}::uuid`;
    await db.$executeRaw`UPDATE reevaluation_sweeps SET last_at = now() - interval '3 hours' WHERE id = 1`;
    await db.reevaluationRequest.deleteMany();
    await sweepTimeTriggers();
    expect((await db.reevaluationRequest.findMany({ where: { trigger: "scan-age" } })).map((x) => x.imageId)).toContain(img.imageId);
    await reevaluateApprovals();
    expect((await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId } })).reasons.join(" ")).toMatch(
      /scan age: newest scan .* old; at most 1 h allowed/,
    );
    await upsertStage({ actor: system, name: "build", settings: { gates: {} } });
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);
  });
});

describe("bulk revocation from a fleet search", () => {
  it("a dry run lists exactly what would change and writes nothing; confirming (by a second person) revokes each approval in the registry", async () => {
    const f = await approvedImage("bulk/f", "build", "4.17.15");
    const g = await approvedImage("bulk/g", "build", "4.17.20");
    const h = await approvedImage("bulk/h", "build", "4.17.21");
    const alice = await userActor("alice@example.com");
    const before = {
      revocations: await db.bulkRevocation.count(),
      audit: await db.auditEvent.count(),
      revoked: await db.approval.count({ where: { revokedAt: { not: null } } }),
    };

    const dry = await startBulkRevocation({ actor: alice, query: "lodash < 4.17.21", stages: ["build"], reason: "CVE-2021-23337", dryRun: true });
    const wanted = [f, g].map((x) => x.approvalId).sort();
    expect(dry.items.map((i) => i.approvalId).sort()).toEqual(expect.arrayContaining(wanted));
    expect(dry.items.some((i) => i.approvalId === h.approvalId)).toBe(false);
    expect(dry.items.find((i) => i.approvalId === f.approvalId)).toMatchObject({
      repository: "bulk/f",
      digest: f.digest,
      stage: "build",
      requester: "dev@example.com",
      reviewers: ["alice@example.com"],
    });
    expect({
      revocations: await db.bulkRevocation.count(),
      audit: await db.auditEvent.count(),
      revoked: await db.approval.count({ where: { revokedAt: { not: null } } }),
    }).toEqual(before);

    // Confirming what the dry run listed: a plan that differs now (here: one approval the confirmation did not show)
    // is refused whole, with nothing recorded or revoked (found by review: the page could confirm an old list).
    await expect(
      startBulkRevocation({
        actor: alice,
        query: "lodash < 4.17.21",
        stages: ["build"],
        reason: "CVE-2021-23337",
        dryRun: false,
        expectApprovals: dry.items.map((i) => i.approvalId).slice(1),
      }),
    ).rejects.toMatchObject({ code: "CONFLICT", field: "expectApprovals", message: expect.stringContaining("(1 more, 0 no longer standing)") });
    expect({
      revocations: await db.bulkRevocation.count(),
      audit: await db.auditEvent.count(),
      revoked: await db.approval.count({ where: { revokedAt: { not: null } } }),
    }).toEqual(before);

    await expect(startBulkRevocation({ actor: alice, query: "lodash < 4.17.21", stages: ["build"], reason: "", dryRun: false })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "reason",
    });
    await expect(startBulkRevocation({ actor: alice, query: "lodash < 4.17.21", stages: ["nope"], reason: "x y z", dryRun: true })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "stages",
    });
    await expect(
      startBulkRevocation({ actor: await userActor("dev@example.com"), query: "lodash", stages: ["build"], reason: "x y z", dryRun: true }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });

    process.env.BULK_REVOCATION_TWO_PERSON = "1";
    resetEnvCache();
    try {
      const chosen = [f, g].map((x) => ({ registry: "default", repository: x.repo, digest: x.digest }));
      const started = await startBulkRevocation({
        actor: alice,
        query: "lodash < 4.17.21",
        stages: ["build"],
        reason: "CVE-2021-23337",
        dryRun: false,
        images: chosen,
      });
      expect(started).toMatchObject({ dryRun: false, status: "awaiting-confirmation", approvals: 2 });
      const id = (started as { id: string }).id;
      expect(await runBulkRevocation({ id })).toMatchObject({ status: "awaiting-confirmation", done: 0 });
      await expect(confirmBulkRevocation({ actor: alice, id })).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect(await db.approval.count({ where: { id: { in: wanted }, revokedAt: { not: null } } })).toBe(0);
      expect(await confirmBulkRevocation({ actor: await userActor("bob@example.com"), id })).toMatchObject({
        status: "queued",
        confirmedBy: "bob@example.com",
      });

      const layersBefore = await sigLayerCount(f.repo, f.digest);
      const run = await runBulkRevocation({ id });
      expect(run).toMatchObject({ status: "done", done: 2, failed: 0 });
      expect(run.registryWrites).toBeGreaterThanOrEqual(2);
      const progress = await getBulkRevocation({ actor: alice, id });
      expect(progress.items.map((i) => i.outcome)).toEqual(["revoked", "revoked"]);
      for (const x of [f, g]) {
        const a = await db.approval.findUniqueOrThrow({ where: { id: x.approvalId } });
        expect(a).toMatchObject({ revocationSource: "bulk", revocationState: "removed" });
      }
      expect(await sigLayerCount(f.repo, f.digest)).toBe(layersBefore - 1);
      expect((await db.approval.findUniqueOrThrow({ where: { id: h.approvalId } })).revokedAt).toBeNull();
      // One batch event (plus confirm and finish) and one per approval.
      expect(await db.auditEvent.count({ where: { action: "revocation.bulk", detail: { path: ["bulkRevocationId"], equals: id } } })).toBe(1);
      expect(await db.auditEvent.count({ where: { action: "approval.revoke", detail: { path: ["source"], equals: "bulk" } } })).toBe(2);
      const hook = await delivered("revocation.bulk", (b) => b.bulkRevocationId === id && b.status === "done");
      expect(hook).toMatchObject({ requesters: ["dev@example.com"], reviewers: ["alice@example.com"], done: 2 });

      // Idempotent: running the finished job again changes nothing.
      const audit = await db.auditEvent.count();
      expect(await runBulkRevocation({ id })).toMatchObject({ status: "done", done: 2 });
      expect(await db.auditEvent.count()).toBe(audit);
    } finally {
      delete process.env.BULK_REVOCATION_TWO_PERSON;
      resetEnvCache();
    }
  });

  it("a job that died halfway resumes: approvals with an outcome are not touched again", async () => {
    const p = await approvedImage("bulk/p", "build", "3.0.0");
    const q = await approvedImage("bulk/q", "build", "3.0.0");
    const alice = await userActor("alice@example.com");
    const s = await startBulkRevocation({ actor: alice, query: "lodash = 3.0.0", stages: ["build"], reason: "bad build", dryRun: false });
    const id = (s as { id: string }).id;
    expect(s).toMatchObject({ status: "queued", approvals: 2 });
    // Simulate a replica that revoked p, saved its outcome, then died while "running".
    await db.$executeRaw`UPDATE bulk_revocations SET status = 'running', outcomes = ${JSON.stringify({ [p.approvalId]: "revoked" })}::jsonb, done = 1 WHERE id = ${id}::uuid`;
    const r = await runBulkRevocation({ id });
    expect(r).toMatchObject({ status: "done", done: 2 });
    expect((await db.approval.findUniqueOrThrow({ where: { id: q.approvalId } })).revokedAt).not.toBeNull();
    // p was recorded as done by the dead run and is left as it was.
    expect((await db.approval.findUniqueOrThrow({ where: { id: p.approvalId } })).revokedAt).toBeNull();
  });
});

describe("revoke-after with rows that fail", () => {
  it("an approval that cannot be judged, or whose reason quotes control characters, does not stall the ones due after it", async () => {
    await upsertStage({ actor: system, name: "test", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
    const quoted = await approvedImage("reeval/stall-quoted", "test", "4.17.21");
    const broken = await approvedImage("reeval/stall-broken", "test", "4.17.21");
    const plain = await approvedImage("reeval/stall-plain", "test", "4.17.21");
    for (const img of [quoted, broken, plain]) await ingestEvidence({ actor: system, imageId: img.imageId, bytes: sbom("4.17.20"), source: "upload" });
    await reevaluateApprovals();
    // A vulnerability id with a bell in it, as a scanner or feed may send it: the findings gate's detail quotes it,
    // and a revocation reason may not hold control characters.
    await db.$executeRaw`UPDATE findings SET vuln_id = ${"OSV-2026-1\u0007"}, aliases = '{}' WHERE image_id = ${quoted.imageId}::uuid`;
    // A stored row that no longer reads: this image's gates cannot be judged now.
    await db.$executeRaw`UPDATE images SET platforms = '{"not": "a list"}'::jsonb WHERE id = ${broken.imageId}::uuid`;
    // Due in this order, each past its grace period.
    const base = Date.now() - 60_000;
    for (const [i, img] of [quoted, broken, plain].entries())
      await db.stageRisk.updateMany({ where: { imageId: img.imageId }, data: { revokeAt: new Date(base + i * 1000) } });
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      expect(await revokeRegressedApprovals({ now: new Date() })).toEqual({ revoked: 2, spared: 0, failed: 1 });
    } finally {
      error.mockRestore();
      await db.$executeRaw`UPDATE images SET platforms = NULL WHERE id = ${broken.imageId}::uuid`;
      await upsertStage({ actor: system, name: "test", settings: { onRegression: "flag" } });
    }
    const q = await db.approval.findUniqueOrThrow({ where: { id: quoted.approvalId } });
    expect(q.revokedAt).not.toBeNull();
    expect(q.revocationReason).toContain("allowed: OSV-2026-1\ufffd");
    expect((await db.approval.findUniqueOrThrow({ where: { id: plain.approvalId } })).revokedAt).not.toBeNull();
    // The one that could not be judged is not revoked on a guess; it stays due (verify denies it meanwhile).
    expect((await db.approval.findUniqueOrThrow({ where: { id: broken.approvalId } })).revokedAt).toBeNull();
    expect(await db.stageRisk.count({ where: { imageId: broken.imageId, revokeAt: { not: null } } })).toBe(1);
  });
});

describe("a stage whose stored gates are unreadable", () => {
  it("the time sweep asks to judge its approvals again, which flags them at risk naming the row, and nothing is revoked for it", async () => {
    await upsertStage({ actor: system, name: "build", settings: { gates: {}, onRegression: "revoke-after", regressionGraceHours: 0 } });
    const img = await approvedImage("reeval/unreadable", "build", "4.17.21");
    await reevaluateApprovals();
    await db.reevaluationRequest.deleteMany();
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    // Hand-edited row: read as "no scan-age limit", the sweep would skip this stage and its interval would be lost.
    await db.$executeRaw`UPDATE stages SET gates = '{"maxScanAgeHours": "soon"}'::jsonb WHERE id = ${stage.id}::uuid`;
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const later = new Date(Date.now() + 3 * 3_600_000);
      expect((await sweepTimeTriggers({ now: later })).requested).toBeGreaterThanOrEqual(1);
      expect((await db.reevaluationRequest.findMany({ where: { imageId: img.imageId } })).length).toBe(1);
      await reevaluateApprovals({ now: () => later });
      const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: img.imageId, stageId: stage.id } });
      expect(risk.reasons.join(" ")).toContain("the stage's gates cannot be read");
      expect(risk.reasons.join(" ")).toContain(`stages.gates of row ${stage.id} is unreadable`);
      // Flag only: revoke-after with no grace would revoke a regression at once, but an unjudgeable approval is not one.
      expect(risk.revokeAt).toBeNull();
      await revokeRegressedApprovals({ now: new Date(later.getTime() + 3_600_000) });
      expect((await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } })).revokedAt).toBeNull();
    } finally {
      warn.mockRestore();
      await upsertStage({ actor: system, name: "build", settings: { gates: {}, onRegression: "flag" } });
    }
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildImage, pushImage } from "../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../scripts/seed";
import { userActor } from "../../scripts/test-harness/promote";
import { db, disconnectDb } from "../db";
import { RegistryClient } from "../oci/client";
import type { Actor } from "./actor";
import { acceptableSubjects } from "./evidence/ingest-evidence";
import { upsertGroup } from "./groups/upsert-group";
import { getImage } from "./images/get-image";
import { syncRegistry } from "./images/sync-registry";
import { getRequest } from "./promotions/get-request";
import { requestPromotion } from "./promotions/request-promotion";
import { reviewRequest } from "./promotions/review-request";
import { registryView } from "./registries/registry-view";
import { resolveRegistry } from "./registries/resolve-registry";
import { runBulkRevocation } from "./revocations/run-bulk-revocation";
import { listStages } from "./stages/list-stages";
import { upsertStage } from "./stages/upsert-stage";

const system: Actor = { kind: "system", label: "test" };
let client: RegistryClient;
let n = 0;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { digest: img.digest, imageId: row.id };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertStage({ actor: system, name: "test", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { sbom: true } } });
  vi.spyOn(console, "warn").mockImplementation(() => {});
});

afterAll(async () => {
  vi.restoreAllMocks();
  await disconnectDb();
});

describe("security-relevant JSON columns fail closed", () => {
  it("a stage whose stored gates no longer parse refuses the approval with the row named, and writes nothing", async () => {
    const { digest, imageId } = await newImage("jc/gates");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const req = await requestPromotion({ actor: dev, registry: "default", repository: "jc/gates", digest, stage: "test", note: "" });
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "test" } });
    // Hand-edited row: sbom is no longer a boolean. Read as "no gates", this stage would approve without an SBOM.
    await db.$executeRaw`UPDATE stages SET gates = '{"sbom": "yes please"}'::jsonb WHERE id = ${stage.id}::uuid`;
    const named = { name: "JsonColumnError", code: "INTERNAL", table: "stages", column: "gates", rowId: stage.id };
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject(named);
    await expect(getRequest({ actor: dev, requestId: req.id })).rejects.toMatchObject(named);
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(0);
    expect(await db.approval.count({ where: { imageId } })).toBe(0);
    expect((await db.promotionRequest.findUniqueOrThrow({ where: { id: req.id } })).status).toBe("open");
    // The stage list (the Stages page, GET /api/v1/stages) still lists every stage, so an admin can set them again;
    // the broken stage shows no gates and the reason, never "No gates".
    const listed = await listStages({ actor: system });
    expect(listed.map((s) => s.name)).toEqual(["build", "test"]);
    expect(listed[1]).toMatchObject({ name: "test", gates: null, requiredApprovals: 1, reviewerGroups: ["security"] });
    expect(listed[1]!.gatesError).toContain(`stages.gates of row ${stage.id} is unreadable`);
    expect(listed[0]).toMatchObject({ name: "build", gatesError: null });
    expect(listed[0]!.gates).not.toBeNull();
    // Setting the gates again is the fix; the same request is then judged on them (no SBOM: refused as a policy matter).
    await upsertStage({ actor: system, name: "test", settings: { gates: { sbom: true } } });
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({ code: "POLICY_VIOLATION" });
  });

  it("stored gate results of a decided request that do not parse are an error, not an empty list", async () => {
    const { digest } = await newImage("jc/results");
    const dev = await userActor("dev@example.com");
    const req = await requestPromotion({ actor: dev, registry: "default", repository: "jc/results", digest, stage: "test", note: "" });
    await db.$executeRaw`UPDATE promotion_requests SET status = 'rejected', gate_results = '[{"gate": "sbom", "passed": "true"}]'::jsonb WHERE id = ${req.id}::uuid`;
    await expect(getRequest({ actor: dev, requestId: req.id })).rejects.toMatchObject({
      code: "INTERNAL",
      table: "promotion_requests",
      column: "gate_results",
      rowId: req.id,
    });
  });

  it("a bulk revocation whose items cannot be read revokes nothing, is marked failed and audited", async () => {
    const [row] = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO bulk_revocations (id, query, stages, reason, status, requested_by, items, total)
      VALUES (gen_random_uuid(), 'openssl', ARRAY['test'], 'cve', 'queued', 'test', '[{"approvalId": 42}]'::jsonb, 1) RETURNING id`;
    const id = row!.id;
    await expect(runBulkRevocation({ id })).rejects.toMatchObject({ code: "INTERNAL", table: "bulk_revocations", column: "items", rowId: id });
    const after = await db.bulkRevocation.findUniqueOrThrow({ where: { id } });
    expect(after).toMatchObject({ status: "failed", done: 0 });
    expect(after.finishedAt).not.toBeNull();
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "revocation.bulk.finish", outcome: "failure" }, orderBy: { seq: "desc" } });
    expect(JSON.stringify(audit.detail)).toContain(`bulk_revocations.items of row ${id}`);
    // A retried job does not pick it up again.
    expect(await runBulkRevocation({ id })).toMatchObject({ status: "failed", done: 0 });
  });

  it("an image whose stored platforms do not parse accepts no evidence for it rather than fewer subjects", async () => {
    const { imageId } = await newImage("jc/platforms");
    await db.$executeRaw`UPDATE images SET platforms = '[{"digest": 1}]'::jsonb WHERE id = ${imageId}::uuid`;
    await expect(acceptableSubjects(imageId)).rejects.toMatchObject({ code: "INTERNAL", table: "images", column: "platforms", rowId: imageId });
  });
});

describe("display-only JSON columns show what parses", () => {
  it("the image page keeps its readable labels and lists the rest; the registry shows the readable sync info", async () => {
    const { digest, imageId } = await newImage("jc/labels");
    const dev = await userActor("dev@example.com");
    await db.$executeRaw`UPDATE images SET labels = '{"maintainer": "ops@example.com", "build": {"nested": true}}'::jsonb WHERE id = ${imageId}::uuid`;
    const img = await getImage({ actor: dev, registry: "default", repository: "jc/labels", digest });
    expect(img.labels).toEqual({ maintainer: "ops@example.com" });
    expect(img.unreadable).toEqual(["labels: build"]);

    const reg = await resolveRegistry("default");
    await db.$executeRaw`UPDATE registries SET last_sync_info = '{"status": 7, "tags": 3}'::jsonb, last_test_result = '"garbage"'::jsonb WHERE id = ${reg.id}::uuid`;
    const view = registryView(await resolveRegistry("default"));
    expect(view.lastSyncInfo).toEqual({ tags: 3 });
    expect(view.lastTestResult).toBeNull();
  });
});

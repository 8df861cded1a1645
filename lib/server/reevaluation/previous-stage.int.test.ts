// A stage with the previousStage gate was approved because the stage before it had passed. When that earlier approval
// stops counting (revoked by hand, by a key compromise, a bulk revocation or a regression, or expired under its
// stage's TTL), the later approval rests on nothing: re-evaluation must judge it again, as for any other change its
// gates depend on, so it turns at risk (and, under revoke-after, is revoked after the grace period).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { revokeApproval } from "../approvals/revoke-approval";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { upsertStage } from "../stages/upsert-stage";
import { reevaluateApprovals } from "./reevaluate-approvals";
import { sweepTimeTriggers } from "./sweep-time-triggers";

const system: Actor = { kind: "system", label: "previous-stage-test" };
let client: RegistryClient;
let n = 0;

/** An image approved for test, then for prod (whose previousStage gate held because test had passed). */
async function approvedThroughProd(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const imageId = (await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } })).id;
  const alice = await userActor("alice@example.com");
  const test = await requestAndApprove({ actor: alice, repository: repo, digest: img.digest as Digest, stage: "test", comment: "ok" });
  const prod = await requestAndApprove({ actor: alice, repository: repo, digest: img.digest as Digest, stage: "prod", comment: "ok" });
  expect(prod.status).toBe("signed");
  await reevaluateApprovals();
  expect(await db.stageRisk.count({ where: { imageId } })).toBe(0);
  return { imageId, testApprovalId: test.id };
}

async function prodRisk(imageId: string) {
  const prod = await db.stage.findUniqueOrThrow({ where: { name: "prod" }, select: { id: true } });
  return db.stageRisk.findFirst({ where: { imageId, stageId: prod.id } });
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await upsertStage({ actor: system, name: "test", settings: { requiredApprovals: 1, approvalTtlDays: 30 } });
  await upsertStage({ actor: system, name: "prod", settings: { requiredApprovals: 1, gates: { previousStage: true }, onRegression: "flag" } });
  await reevaluateApprovals();
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("a later stage that needed the previous one is judged again when that one stops counting", () => {
  it("revoking the previous stage's approval queues the image, and its later stage turns at risk", async () => {
    const { imageId, testApprovalId } = await approvedThroughProd("prev/revoked");
    await revokeApproval({ approvalId: testApprovalId, actor: await userActor("admin@example.com"), reason: "the test run was faked" });
    expect(await db.reevaluationRequest.count({ where: { imageId } }), "the revocation queued no re-evaluation").toBeGreaterThan(0);
    await reevaluateApprovals();
    const risk = await prodRisk(imageId);
    expect(risk, "prod still stands although the test approval it required was revoked").not.toBeNull();
    expect(risk!.reasons.join(" ")).toMatch(/previous stage signed: test is revoked/);
  });

  it("the previous stage's approval expiring queues the image at the next sweep, and its later stage turns at risk", async () => {
    const { imageId, testApprovalId } = await approvedThroughProd("prev/expired");
    await sweepTimeTriggers();
    // 30 days pass for the test approval (TTL 30 days): it expires between this sweep and the next.
    await db.approval.update({ where: { id: testApprovalId }, data: { createdAt: new Date(Date.now() - 30 * 86_400_000 + 500) } });
    await new Promise((r) => setTimeout(r, 1_100));
    await sweepTimeTriggers();
    expect(await db.reevaluationRequest.count({ where: { imageId } }), "the expiry queued no re-evaluation").toBeGreaterThan(0);
    await reevaluateApprovals();
    const risk = await prodRisk(imageId);
    expect(risk, "prod still stands although the test approval it required has expired").not.toBeNull();
    expect(risk!.reasons.join(" ")).toMatch(/previous stage signed: test is approval expired/);
  });
});

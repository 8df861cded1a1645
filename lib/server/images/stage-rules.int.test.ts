// "Has this image passed this stage" is decided once, in SQL (stage_decision(), stage_decisions). These tests state
// the rules through the product: each real event (an approval, the Nth of M reviews, a revocation, time passing a
// TTL, a trust change, a key compromise) changes what the image page, "my images" and the next stage's gate facts
// show, and the first test proves those screens read the decision from the database rather than judging again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { approveStage } from "../approvals/approve-stage";
import { revokeApproval } from "../approvals/revoke-approval";
import { upsertGroup } from "../groups/upsert-group";
import { stopBoss } from "../jobs/boss";
import { revokeStageKey } from "../keys/revoke-stage-key";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { listMyImages } from "../promotions/list-my-images";
import { requestPromotion } from "../promotions/request-promotion";
import { upsertStage } from "../stages/upsert-stage";
import { getImage } from "./get-image";
import { syncRegistry } from "./sync-registry";

const system: Actor = { kind: "system", label: "stage-rules-test" };
const DAY = 86_400_000;
let client: RegistryClient;
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pushed(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { repo, digest: img.digest as Digest, imageId: row.id };
}

type Img = Awaited<ReturnType<typeof pushed>>;

async function approved(repo: string, stage: string) {
  const img = await pushed(repo);
  const a = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: repo, digest: img.digest, stage, comment: "ok" });
  return { ...img, approvalId: a.id };
}

/** The image page's row for one stage, and the page's current stage. */
async function pageStage(img: Img, stage: string) {
  const page = await getImage({ actor: await userActor("alice@example.com"), repository: img.repo, digest: img.digest });
  return { ...page.stages.find((s) => s.stage === stage)!, current: page.currentStage, page };
}

/** What the gates of `stage` are told about the stage before it. */
async function previousStageFact(img: Img, stage: string) {
  const s = await db.stage.findUniqueOrThrow({ where: { name: stage } });
  return (await gatherGateFacts(db, { imageId: img.imageId, stageId: s.id })).previousStage;
}

async function myImage(img: Img) {
  return (await listMyImages({ actor: await userActor("dev@example.com") })).find((i) => i.digest === img.digest)!;
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("the stage rules, read from SQL by the image page, my images and the gate facts", () => {
  it("shows the stored decision: an approval passes the stage everywhere, and a row changed behind the rules' back is what every screen shows", async () => {
    const img = await pushed("rules/approve");
    expect(await pageStage(img, "build")).toMatchObject({
      state: "not approved",
      detail: "no approval",
      approver: null,
      approvedAt: null,
      expiresAt: null,
      current: null,
    });
    expect(await previousStageFact(img, "test")).toEqual({ name: "build", state: "not approved", detail: "no approval" });
    expect(await previousStageFact(img, "build")).toBeNull();

    const a = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: img.repo, digest: img.digest, stage: "build", comment: "ok" });
    const row = await db.approval.findUniqueOrThrow({ where: { id: a.id } });
    const build = await pageStage(img, "build");
    expect(build).toMatchObject({
      state: "approved",
      approver: "Alice Reviewer",
      approvedAt: row.signedAt!.toISOString(),
      expiresAt: null,
      current: "build",
      position: 1,
    });
    expect(build.detail).toBe("signed by stage:build (stage-build-key)");
    expect(await previousStageFact(img, "test")).toEqual({ name: "build", state: "approved", detail: build.detail });
    expect(await myImage(img)).toMatchObject({
      currentStage: "build",
      nextStage: "test",
      stages: [
        { stage: "build", state: "approved" },
        { stage: "test", state: "not approved" },
        { stage: "prod", state: "not approved" },
      ],
    });

    // The page, my images and the gates read the stored row: change it without touching what it was computed from
    // (no trigger runs) and every screen shows the change. A second judgement in TypeScript would not.
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    await db.$executeRaw`UPDATE stage_decisions SET allowed = false, state = 'signed, not verified', detail = 'stored by hand' WHERE image_id = ${img.imageId}::uuid AND stage_id = ${stage.id}::uuid`;
    expect(await pageStage(img, "build")).toMatchObject({ state: "signed, not verified", detail: "stored by hand", current: null });
    expect(await previousStageFact(img, "test")).toEqual({ name: "build", state: "signed, not verified", detail: "stored by hand" });
    expect((await myImage(img)).blockers).toContain("build was signed but the signature does not verify: stored by hand");
    // Recomputing from the rules puts it back.
    await db.$executeRaw`SELECT refresh_stage_decision(${img.imageId}::uuid, ${stage.id}::uuid)`;
    expect(await pageStage(img, "build")).toMatchObject({ state: "approved", detail: build.detail, current: "build" });
  });

  it("N of M: the first of two reviews passes nothing; the second signs and the stage passes, approved by the second reviewer", async () => {
    await upsertStage({ actor: system, name: "prod", settings: { requiredApprovals: 2, reviewerGroups: ["security"], gates: {} } });
    const img = await approved("rules/n-of-m", "test");
    await requestPromotion({ actor: await userActor("dev@example.com"), repository: img.repo, digest: img.digest, stage: "prod", note: "two eyes" });
    const first = await approveStage({ actor: await userActor("alice@example.com"), repository: img.repo, digest: img.digest, stage: "prod", comment: "one" });
    expect(first).toMatchObject({ status: "awaiting approvals", id: null });
    expect(await pageStage(img, "prod")).toMatchObject({ state: "not approved", detail: "no approval", current: "test" });
    expect((await myImage(img)).blockers).toContain("needs 2 approvals from group security, has 1 (Alice Reviewer)");
    const second = await approveStage({ actor: await userActor("bob@example.com"), repository: img.repo, digest: img.digest, stage: "prod", comment: "two" });
    expect(second.status).toBe("signed");
    const prod = await pageStage(img, "prod");
    expect(prod).toMatchObject({ state: "approved", approver: "Bob Reviewer", current: "prod" });
    expect(await myImage(img)).toMatchObject({ currentStage: "prod", nextStage: null, blockers: [] });
    await upsertStage({ actor: system, name: "prod", settings: { requiredApprovals: 1 } });
  });

  it("a revocation denies at once on every screen, says who and why, and a new approval passes again", async () => {
    const img = await approved("rules/revoke", "build");
    await revokeApproval({ approvalId: img.approvalId, actor: await userActor("admin@example.com"), reason: "built from the wrong branch" });
    const r = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    const detail = `revoked ${r.revokedAt!.toISOString()} by ${r.revokedBy}: built from the wrong branch`;
    expect(await pageStage(img, "build")).toMatchObject({ state: "revoked", detail, approver: "Alice Reviewer", approvedAt: null, current: null });
    expect(await previousStageFact(img, "test")).toEqual({ name: "build", state: "revoked", detail });
    expect(await myImage(img)).toMatchObject({ currentStage: null, nextStage: "build" });

    await requestAndApprove({ actor: await userActor("bob@example.com"), repository: img.repo, digest: img.digest, stage: "build", comment: "rebuilt" });
    expect(await pageStage(img, "build")).toMatchObject({ state: "approved", approver: "Bob Reviewer", current: "build" });
    expect((await previousStageFact(img, "test"))!.state).toBe("approved");
  });

  it("expiry: the TTL counts from the trusted time (the TSA's when there is one), and time alone turns the page to 'approval expired'", async () => {
    await upsertStage({ actor: system, name: "test", settings: { approvalTtlDays: 30 } });
    const img = await approved("rules/expiry", "test");
    let a = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    expect(a).toMatchObject({ trustedAt: a.createdAt, trustedBy: "record" });
    const until = new Date(a.createdAt.getTime() + 30 * DAY).toISOString();
    expect(await pageStage(img, "test")).toMatchObject({
      state: "approved",
      expiresAt: until,
      detail: expect.stringMatching(new RegExp(`, valid until ${until}$`)),
    });

    // Imprimatur's record is 31 days old: expired, on the page, in the gate facts and in my images.
    await db.approval.update({ where: { id: a.id }, data: { createdAt: new Date(Date.now() - 31 * DAY) } });
    a = await db.approval.findUniqueOrThrow({ where: { id: a.id } });
    const expiredAt = new Date(a.createdAt.getTime() + 30 * DAY).toISOString();
    const expired = await pageStage(img, "test");
    expect(expired).toMatchObject({ state: "approval expired", expiresAt: expiredAt, approvedAt: null, current: null });
    expect(expired.detail).toBe(
      `approved ${a.createdAt.toISOString()} (Imprimatur's record); stage test approvals last 30 days from the decision, so it expired ${expiredAt}; request the promotion again`,
    );
    expect(expired.page.approvals.find((x) => x.id === a.id)!.trustedTime).toEqual({ at: a.createdAt.toISOString(), by: "record", tsa: null });
    expect(await previousStageFact(img, "prod")).toEqual({ name: "test", state: "approval expired", detail: expired.detail });

    // A TSA's time two days ago is the trusted time, but it does not extend an approval decided 31 days ago: it ages
    // from the earlier of the two (a signature timestamped late, after an outage, lasts no longer).
    const tsaAt = new Date(Date.now() - 2 * DAY);
    await db.approval.update({ where: { id: a.id }, data: { timestampAt: tsaAt, timestampBy: "CN=Test TSA" } });
    expect(await pageStage(img, "test")).toMatchObject({ state: "approval expired", expiresAt: expiredAt });
    // Decided a day ago, its TSA time two days ago (clocks differ): it ages from the TSA's time, valid until 28 days from
    // now; the page says by whom.
    await db.approval.update({ where: { id: a.id }, data: { createdAt: new Date(Date.now() - DAY) } });
    const byTsa = await pageStage(img, "test");
    expect(byTsa).toMatchObject({ state: "approved", expiresAt: new Date(tsaAt.getTime() + 30 * DAY).toISOString() });
    expect(byTsa.page.approvals.find((x) => x.id === a.id)!.trustedTime).toEqual({ at: tsaAt.toISOString(), by: "tsa", tsa: "CN=Test TSA" });

    // The TSA's time 1.5 s before the end: nothing is written when it passes, yet the page turns.
    await db.approval.update({ where: { id: a.id }, data: { timestampAt: new Date(Date.now() - 30 * DAY + 1500) } });
    expect((await pageStage(img, "test")).state).toBe("approved");
    await sleep(2000);
    const turned = await pageStage(img, "test");
    expect(turned.state).toBe("approval expired");
    expect(turned.detail).toMatch(/\(time trusted by the TSA\); stage test approvals last 30 days from the decision/);
    // Asking again renews: a new request, since the approval it concluded no longer counts.
    expect(
      (await requestPromotion({ actor: await userActor("dev@example.com"), repository: img.repo, digest: img.digest, stage: "test", note: "renew" })).created,
    ).toBe(true);
    await upsertStage({ actor: system, name: "test", settings: { approvalTtlDays: null } });
    expect((await pageStage(img, "test")).state).toBe("approved");
  });

  it("a trust change: a signature that no longer verifies is 'signed, not verified' everywhere, and re-verifying passes again", async () => {
    const img = await approved("rules/trust", "build");
    const a = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    // What a sync writes when the signature's key is no longer trusted.
    await db.signature.update({
      where: { imageId_layerDigest: { imageId: img.imageId, layerDigest: a.layerDigest } },
      data: { verdict: "unverified", keyName: null },
    });
    expect(await pageStage(img, "build")).toMatchObject({ state: "signed, not verified", detail: "unverified", current: null });
    expect(await previousStageFact(img, "test")).toEqual({ name: "build", state: "signed, not verified", detail: "unverified" });
    expect((await myImage(img)).blockers).toContain("build was signed but the signature does not verify: unverified");
    // The next sync re-verifies against the current trust (the stage key still vouches).
    await db.image.update({ where: { id: img.imageId }, data: { sigCheckedAt: null } });
    await syncRegistry({ actor: system });
    expect((await pageStage(img, "build")).state).toBe("approved");
  });

  it("a key compromise revokes what the key signed from the effective time on, and leaves what it signed before passing", async () => {
    const before = await approved("rules/key-before", "test");
    await sleep(50);
    const effectiveAt = new Date();
    await sleep(50);
    const after = await approved("rules/key-after", "test");
    await revokeStageKey({ actor: await userActor("admin@example.com"), stage: "test", effectiveAt, reason: "stage key leaked in CI logs" });

    const hit = await pageStage(after, "test");
    expect(hit).toMatchObject({ state: "revoked", detail: expect.stringContaining("stage key leaked in CI logs"), current: null });
    expect(hit.page.approvals[0]!.keyCompromise).toMatchObject({ madeBefore: false, effectiveAt: effectiveAt.toISOString() });
    expect(await previousStageFact(after, "prod")).toMatchObject({ name: "test", state: "revoked" });

    const kept = await pageStage(before, "test");
    expect(kept).toMatchObject({ state: "approved", current: "test" });
    expect(kept.page.approvals[0]!.keyCompromise).toMatchObject({ madeBefore: true });
    expect(kept.page.approvals[0]!.keyCompromise!.explanation).toMatch(/\(Imprimatur's record\), before key .* was compromised/);
    expect((await previousStageFact(before, "prod"))!.state).toBe("approved");
  });

  it("a platform manifest shows its index's decisions: approving the index passes the stage for the platform", async () => {
    const amd = buildImage({ architecture: "amd64", layers: [{ "a.txt": `amd ${Date.now()}` }] });
    const arm = buildImage({ architecture: "arm64", layers: [{ "a.txt": `arm ${Date.now()}` }] });
    const index = await pushIndex(client, "rules/multi", [amd, arm], ["1"]);
    await syncRegistry({ actor: system });
    const platform = { repo: "rules/multi", digest: amd.digest as Digest, imageId: "" };
    expect((await pageStage(platform, "build")).page.coveredBy).toMatchObject({
      indexDigest: index,
      currentStage: null,
      stages: [{ stage: "build", state: "not approved" }, { stage: "test" }, { stage: "prod" }],
    });
    await requestAndApprove({ actor: await userActor("alice@example.com"), repository: "rules/multi", digest: index, stage: "build", comment: "ok" });
    const page = (await pageStage(platform, "build")).page;
    expect(page.coveredBy).toMatchObject({
      currentStage: "build",
      stages: [
        { stage: "build", state: "approved", approver: "Alice Reviewer" },
        { stage: "test", state: "not approved" },
        { stage: "prod", state: "not approved" },
      ],
    });
    // The platform itself has no approval of its own.
    expect(page.currentStage).toBeNull();
  });
});

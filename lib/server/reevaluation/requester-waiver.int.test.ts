// Four eyes on waivers after the approval. Re-evaluation (and the revoke-after sweep) judge a standing approval's gates
// without counting a waiver granted by its requester, as the review did ("Four eyes hold whatever the order: … a waiver
// granted by the request's requester … is not counted … even if it was granted before the request"); and grantWaiver
// refuses the requester of a request whose approval still stands, not only of an open one.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { lodashImage, LODASH_ADVISORY, LODASH_CVE } from "../../../scripts/test-harness/lodash-image";
import { graceEnds, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { importAdvisories } from "../advisories/import-advisories";
import { upsertGroup } from "../groups/upsert-group";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { upsertStage } from "../stages/upsert-stage";
import { grantWaiver } from "../waivers/grant-waiver";

const system: Actor = { kind: "system", label: "requester-waiver" };
let client: RegistryClient;
const ADVISORY = LODASH_ADVISORY;
const CVE = LODASH_CVE;
const imageWithEvidence = (repo: string) => lodashImage(client, system, repo);

/** carol (a member of the waiver group) requests the promotion; alice (reviewer group) approves it. */
async function requestedByCarolApprovedByAlice(img: { digest: Digest; repo: string }) {
  const req = await requestPromotion({ actor: await userActor("carol@example.com"), repository: img.repo, digest: img.digest, stage: "test", note: "ship it" });
  const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "ok" });
  expect(out.status).toBe("signed");
  return { requestId: req.id, approvalId: out.approvalId! };
}

const verify = (img: { digest: Digest; repo: string }) =>
  evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${img.repo}@${img.digest}`, stage: "test", refuseTags: false });

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  // carol requests promotions and is also in the waiver group; alice and bob review.
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "leads", members: ["carol@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      waiverGroup: "leads",
      gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } },
      onRegression: "revoke-after",
      regressionGraceHours: 1,
    },
  });
  await reevaluateApprovals();
});

afterAll(async () => {
  await disconnectDb();
});

let pre: Awaited<ReturnType<typeof imageWithEvidence>> & { approvalId: string };
let post: Awaited<ReturnType<typeof imageWithEvidence>> & { approvalId: string };

describe("four eyes on waivers after the approval", () => {
  beforeAll(async () => {
    // pre: carol waives the CVE for the whole repository while no request of hers is open (allowed, and documented as
    // "not counted" for any request of hers), then requests; alice approves (no finding yet, the gate holds).
    const a = await imageWithEvidence(`four-eyes/pre-${randomUUID().slice(0, 8)}`);
    await grantWaiver({
      actor: await userActor("carol@example.com"),
      stage: "test",
      gate: "findings",
      vulnIds: [CVE],
      registry: "default",
      repository: a.repo,
      reason: "not reachable in our services",
      expiresAt: new Date(Date.now() + 30 * 86_400_000),
    });
    pre = { ...a, approvalId: (await requestedByCarolApprovedByAlice(a)).approvalId };
    // post: carol requests, alice approves; no waiver yet.
    const b = await imageWithEvidence(`four-eyes/post-${randomUUID().slice(0, 8)}`);
    post = { ...b, approvalId: (await requestedByCarolApprovedByAlice(b)).approvalId };
    await reevaluateApprovals();
    // The advisory arrives: both approvals' findings gate no longer holds.
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "requester-waiver" });
    await reevaluateApprovals();
  });

  it("the requester of a signed promotion cannot waive its regressed gate (and such a waiver does not spare it)", async () => {
    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: post.imageId } });
    expect(risk.revokeAt).not.toBeNull();
    expect(risk.reasons.join(" ")).toContain(CVE);

    // carol waives her own signed promotion's failing gate within the grace period.
    const granted = await grantWaiver({
      actor: await userActor("carol@example.com"),
      stage: "test",
      gate: "findings",
      vulnIds: [CVE],
      registry: "default",
      repository: post.repo,
      digest: post.digest,
      reason: "my own image, trust me",
      expiresAt: new Date(Date.now() + 30 * 86_400_000),
    }).then(
      () => true,
      (e: unknown) => {
        expect(e).toMatchObject({ code: "FORBIDDEN" });
        return false;
      },
    );
    // FORBIDDEN (four eyes: a waiver is never granted by the requester). Were it granted, it must not count either.
    let spared = null;
    if (granted) {
      await reevaluateApprovals();
      spared = {
        riskRows: await db.stageRisk.count({ where: { imageId: post.imageId } }),
        verifyAllowed: (await verify(post)).allowed,
      };
    }
    expect({ granted, spared }, "the requester waived her own signed promotion's regressed gate, and the waiver counted").toEqual({
      granted: false,
      spared: null,
    });
  });

  it("a waiver the requester granted (before requesting) does not keep her regressed approval standing", async () => {
    // The advisory matched this image as it did the other (same SBOM): the gate fails but for carol's waiver.
    expect(await db.finding.count({ where: { imageId: pre.imageId, documentId: null, status: "affected" } })).toBeGreaterThan(0);
    expect(await db.waiver.count({ where: { repository: { name: pre.repo }, grantedBy: { email: "carol@example.com" } } })).toBe(1);
    const risk = await db.stageRisk.findFirst({ where: { imageId: pre.imageId } });
    // At risk: her waiver does not count for her request, so it does not lift the regressed stage.
    expect(risk, "the requester's own waiver must not lift the at-risk stage").not.toBeNull();

    // And past the grace period the approval must be revoked, not spared by her waiver.
    await graceEnds(pre.imageId);
    await revokeRegressedApprovals({ now: new Date() });
    const approval = await db.approval.findUniqueOrThrow({ where: { id: pre.approvalId } });
    expect(approval.revokedAt, "revoke-after must revoke an approval whose only waiver is the requester's").not.toBeNull();
    expect((await verify(pre)).allowed).toBe(false);
  });

  it("once her approval is revoked, the requester may grant a waiver for that digest again (nothing of hers stands there)", async () => {
    const w = await grantWaiver({
      actor: await userActor("carol@example.com"),
      stage: "test",
      gate: "findings",
      vulnIds: [CVE],
      registry: "default",
      repository: pre.repo,
      digest: pre.digest,
      reason: "for whoever requests it next",
      expiresAt: new Date(Date.now() + 30 * 86_400_000),
    });
    expect(w.digest).toBe(pre.digest);
  });
});

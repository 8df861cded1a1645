// Four eyes on waivers and approvals: the person who grants a waiver (an exception to a failing gate) does not approve
// the promotion it enables, at review time or later (re-evaluation and the revoke-after sweep), whatever the order.
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
import { getRequest } from "../promotions/get-request";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { upsertStage } from "../stages/upsert-stage";
import { grantWaiver } from "../waivers/grant-waiver";

const system: Actor = { kind: "system", label: "approver-waiver" };
let client: RegistryClient;
const ADVISORY = LODASH_ADVISORY;
const CVE = LODASH_CVE;
const imageWithEvidence = (repo: string) => lodashImage(client, system, repo);

const waive = async (who: string, img: { repo: string; digest?: Digest }, reason: string) =>
  grantWaiver({
    actor: await userActor(who),
    stage: "test",
    gate: "findings",
    vulnIds: [CVE],
    registry: "default",
    repository: img.repo,
    ...(img.digest ? { digest: img.digest } : {}),
    reason,
    expiresAt: new Date(Date.now() + 30 * 86_400_000),
  });

const verify = (img: { digest: Digest; repo: string }) =>
  evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${img.repo}@${img.digest}`, stage: "test", refuseTags: false });

let earlier: Awaited<ReturnType<typeof imageWithEvidence>> & { approvalId: string };

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  // alice reviews and may grant waivers; bob reviews; dev requests.
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "leads", members: ["alice@example.com"] });
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
  // An approval made while its gate held (no advisory yet), by alice.
  const a = await imageWithEvidence(`approver-waiver/earlier-${randomUUID().slice(0, 8)}`);
  const req = await requestPromotion({ actor: await userActor("dev@example.com"), repository: a.repo, digest: a.digest, stage: "test", note: "ship it" });
  const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "clean" });
  expect(out.status).toBe("signed");
  earlier = { ...a, approvalId: out.approvalId! };
  // The advisory arrives: lodash 4.17.20 is vulnerable (high), and the findings gate fails for every such image.
  await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "approver-waiver" });
  await reevaluateApprovals();
});

afterAll(async () => {
  await disconnectDb();
});

describe("four eyes: the person who grants a waiver does not approve with it", () => {
  it("a reviewer cannot approve on a waiver of their own; another reviewer can", async () => {
    const img = await imageWithEvidence(`approver-waiver/now-${randomUUID().slice(0, 8)}`);
    await waive("alice@example.com", img, "not reachable in our services");
    const req = await requestPromotion({ actor: await userActor("dev@example.com"), repository: img.repo, digest: img.digest, stage: "test", note: "please" });
    // The request page judges the gates for the request (the waiver counts), and tells alice, who may approve, that her
    // own approval would fail on it; bob is told nothing.
    const page = async (who: string) => getRequest({ actor: await userActor(who), requestId: req.id });
    const alicePage = await page("alice@example.com");
    expect(alicePage.gates.find((g) => g.gate === "findings")).toMatchObject({ passed: true, waived: true });
    expect(alicePage.viewer.fourEyes.join(" ")).toContain("the exception and the approval need two people");
    expect((await page("bob@example.com")).viewer.fourEyes).toEqual([]);
    expect((await page("dev@example.com")).viewer.fourEyes).toEqual([]);
    await expect(
      reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "waived" }),
    ).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      message: expect.stringContaining("approves this promotion: the exception and the approval need two people"),
    });
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(0);
    const out = await reviewRequest({ actor: await userActor("bob@example.com"), requestId: req.id, decision: "approve", comment: "alice's waiver stands" });
    expect(out.status).toBe("signed");
    expect((await verify(img)).allowed).toBe(true);
  });

  it("a waiver its approver grants after the approval regressed does not keep it standing, and revoke-after revokes it", async () => {
    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId: earlier.imageId } });
    expect(risk.reasons.join(" ")).toContain(CVE);
    await waive("alice@example.com", earlier, "my approval, my exception");
    await reevaluateApprovals();
    const still = await db.stageRisk.findFirst({ where: { imageId: earlier.imageId } });
    expect(still, "the approver's own waiver must not lift the at-risk stage").not.toBeNull();
    await graceEnds(earlier.imageId);
    await revokeRegressedApprovals({ now: new Date() });
    expect((await db.approval.findUniqueOrThrow({ where: { id: earlier.approvalId } })).revokedAt).not.toBeNull();
    expect((await verify(earlier)).allowed).toBe(false);
  });
});

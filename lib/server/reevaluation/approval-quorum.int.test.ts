// Re-evaluation judges a standing approval's quorum, not only its gates: the approvals of its request that count now
// (reviewer groups, role, disabled) against the stage's N as it is now.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { graceEnds, pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { upsertGroup } from "../groups/upsert-group";
import { reviewRequest } from "../promotions/review-request";
import { upsertStage } from "../stages/upsert-stage";
import { updateUser } from "../users/update-user";
import { reevaluateApprovals } from "./reevaluate-approvals";
import { revokeRegressedApprovals } from "./revoke-regressed-approvals";

const system: Actor = { kind: "system", label: "approval-quorum" };
const REVIEWERS = ["alice@example.com", "bob@example.com", "carol@example.com"];
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "q-flag", "q-revoke", "q-plain"]);
  await upsertGroup({ actor: system, name: "q-reviewers", members: REVIEWERS });
  for (const name of ["q-flag", "q-revoke", "q-plain"])
    await upsertStage({ actor: system, name, settings: { requiredApprovals: 2, reviewerGroups: ["q-reviewers"], gates: {} } });
  await upsertStage({ actor: system, name: "q-revoke", settings: { onRegression: "revoke-after", regressionGraceHours: 1 } });
  await reevaluateApprovals();
});

afterAll(async () => {
  await disconnectDb();
});

const host = () => new URL(process.env.REGISTRY_URL!).host;
const verify = (repository: string, digest: string, stage: string) => evaluateImage({ image: `${host()}/${repository}@${digest}`, stage, refuseTags: false });
const riskOf = async (requestId: string) => {
  const a = await db.approval.findFirstOrThrow({ where: { requestId } });
  return { approval: a, risk: await db.stageRisk.findFirst({ where: { imageId: a.imageId, stageId: a.stageId } }) };
};

/** The finding: an admin lowers N and joins the reviewer group for one approval of their own, then puts both back. */
async function aloneThenRestored(stage: string) {
  const admin = await userActor("admin@example.com");
  const repository = `quorum/${stage}-${randomUUID().slice(0, 6)}`;
  const { digest, requestId } = await pushedAndRequested({ client, repository, stage, label: "alone" });
  await upsertStage({ actor: admin, name: stage, settings: { requiredApprovals: 1 } });
  await upsertGroup({ actor: admin, name: "q-reviewers", members: [...REVIEWERS, "admin@example.com"] });
  const out = await reviewRequest({ actor: admin, requestId, decision: "approve", comment: "ship it", later: () => {} });
  expect(out.status).toBe("signed");
  await upsertGroup({ actor: admin, name: "q-reviewers", members: REVIEWERS });
  await upsertStage({ actor: admin, name: stage, settings: { requiredApprovals: 2 } });
  await reevaluateApprovals();
  expect((await db.promotionRequest.findUniqueOrThrow({ where: { id: requestId } })).breakGlass).toBe(false);
  return { repository, digest, requestId };
}

/** An ordinary two-person approval: alice and bob, 2 of 2. */
async function twoOfTwo(stage: string, label: string) {
  const repository = `quorum/${stage}-${label}-${randomUUID().slice(0, 6)}`;
  const { digest, requestId } = await pushedAndRequested({ client, repository, stage, label });
  await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
  const out = await reviewRequest({ actor: await userActor("bob@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
  expect(out.status).toBe("signed");
  return { repository, digest, requestId };
}

describe("re-evaluation judges an approval's quorum against the stage as it is now", () => {
  it("lowering N for one approval and restoring it leaves that approval at risk (flag: verify warns)", async () => {
    const { repository, digest, requestId } = await aloneThenRestored("q-flag");
    const { risk } = await riskOf(requestId);
    expect(risk?.reasons.join(" ")).toMatch(/has 0 of 2 approvals that count .*admin@example.com: no longer a member of group q-reviewers/);
    expect(risk?.revokeAt).toBeNull();
    const v = await verify(repository, digest, "q-flag");
    expect(v.allowed).toBe(true);
    expect(v.reasons.at(-1)).toMatch(/^warning: at risk since .*has 0 of 2 approvals that count/);
  });

  it("under revoke-after, the approval is denied once the grace period ends and revoked by the job", async () => {
    const { repository, digest, requestId } = await aloneThenRestored("q-revoke");
    const { approval, risk } = await riskOf(requestId);
    expect(risk?.revokeAt).not.toBeNull();
    expect((await verify(repository, digest, "q-revoke")).allowed).toBe(true);
    await graceEnds(approval.imageId);
    const due = await verify(repository, digest, "q-revoke");
    expect(due.allowed).toBe(false);
    expect(due.reasons.join(" ")).toMatch(/revocation due/);
    // The gates hold (there are none): the missing quorum alone revokes it.
    expect(await revokeRegressedApprovals({ now: new Date() })).toEqual({ revoked: 1, spared: 0 });
    const revoked = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(revoked).toMatchObject({ revocationSource: "regression" });
    expect(revoked.revocationReason).toMatch(/no longer has the approvals the stage requires .*has 0 of 2 approvals that count/);
    expect((await verify(repository, digest, "q-revoke")).allowed).toBe(false);
  });

  it("an ordinary 2-of-2 history is not flagged; an approver leaving the reviewer group flags it, coming back resolves it", async () => {
    const { repository, digest, requestId } = await twoOfTwo("q-plain", "plain");
    await upsertStage({ actor: system, name: "q-plain", settings: { requiredApprovals: 2, reviewerGroups: ["q-reviewers"] } });
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk).toBeNull();
    const v = await verify(repository, digest, "q-plain");
    expect(v.allowed).toBe(true);
    expect(v.reasons.some((r) => r.startsWith("warning:"))).toBe(false);

    // A membership change of a reviewer group asks for the approvals its (former) members made there to be judged again.
    const { approval } = await riskOf(requestId);
    await db.reevaluationRequest.deleteMany();
    await upsertGroup({ actor: system, name: "q-reviewers", members: ["alice@example.com", "carol@example.com"] });
    expect(await db.reevaluationRequest.findMany({ where: { imageId: approval.imageId, trigger: "approver" } })).toHaveLength(1);
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk?.reasons.join(" ")).toMatch(/has 1 of 2 approvals that count .*bob@example.com: no longer a member/);
    await upsertGroup({ actor: system, name: "q-reviewers", members: REVIEWERS });
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk).toBeNull();
  });

  it("raising N judges older approvals by the new N, as a tightened gate would; a disabled approver no longer counts", async () => {
    const { requestId } = await twoOfTwo("q-plain", "raised");
    await upsertStage({ actor: system, name: "q-plain", settings: { requiredApprovals: 3 } });
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk?.reasons.join(" ")).toMatch(/has 2 of 3 approvals that count/);
    await upsertStage({ actor: system, name: "q-plain", settings: { requiredApprovals: 2 } });
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk).toBeNull();

    const admin = await userActor("admin@example.com");
    await updateUser({ actor: admin, email: "bob@example.com", disabled: true });
    try {
      await reevaluateApprovals();
      expect((await riskOf(requestId)).risk?.reasons.join(" ")).toMatch(/has 1 of 2 .*bob@example.com: the account is disabled/);
    } finally {
      await updateUser({ actor: admin, email: "bob@example.com", disabled: false });
    }
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk).toBeNull();
  });

  it("a break-glass approval counts while its author is an enabled admin, as at review time", async () => {
    const repository = `quorum/glass-${randomUUID().slice(0, 6)}`;
    const { requestId } = await pushedAndRequested({ client, repository, stage: "q-plain", label: "glass" });
    await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
    const glass = { decision: "approve" as const, comment: "urgent fix, second reviewer away", breakGlass: true, later: () => {} };
    expect((await reviewRequest({ actor: await userActor("admin@example.com"), requestId, ...glass })).status).toBe("signed");
    await reevaluateApprovals();
    expect((await riskOf(requestId)).risk).toBeNull();
  });
});

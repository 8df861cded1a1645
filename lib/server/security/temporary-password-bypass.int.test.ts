// Found by review: the admin who set a reviewer's temporary password knows it, so signed in as the reviewer they can
// "set their own password" (changeOwnPassword asks only for the current password, which is the admin's), which clears
// users.password_set_by_id; signed in again, they approved as the reviewer: the 2-of-2 of the original finding, again.
// Nothing tells the reviewer from the admin, so for four eyes the account counts as the admin too (its password
// lineage, promotions/password-lineage.ts) until the operator resets its password with the CLI.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { changePasswordOverHttp, signInWithPassword } from "../../../scripts/test-harness/password-session";
import { discoverRoutes, type DiscoveredRoute } from "../../../scripts/test-harness/routes";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { upsertGroup } from "../groups/upsert-group";
import { reviewRequest } from "../promotions/review-request";
import { upsertStage } from "../stages/upsert-stage";
import { changeOwnPassword } from "../users/change-own-password";
import { updateUser } from "../users/update-user";

const system: Actor = { kind: "system", label: "temporary-password-bypass" };
let client: RegistryClient;
let routes: DiscoveredRoute[];

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  routes = await discoverRoutes();
  await seedUsers();
  await seedStages(["build", "prod", "prod3"]);
  await upsertGroup({ actor: system, name: "prod-reviewers", members: ["alice@example.com", "bob@example.com", "carol@example.com", "admin@example.com"] });
  await upsertStage({ actor: system, name: "prod", settings: { requiredApprovals: 2, reviewerGroups: ["prod-reviewers"], gates: {} } });
  await upsertStage({ actor: system, name: "prod3", settings: { requiredApprovals: 3, reviewerGroups: ["prod-reviewers"], gates: {} } });
});

afterAll(async () => {
  await disconnectDb();
});

it("the admin who set a reviewer's password cannot clear its temporary state and approve as the reviewer", async () => {
  const admin = await userActor("admin@example.com");
  const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/bypass-${randomUUID().slice(0, 6)}`, stage: "prod", label: "bypass" });
  await reviewRequest({ actor: admin, requestId, decision: "approve", comment: "lgtm" });

  await updateUser({ actor: admin, email: "bob@example.com", password: "chosen-by-the-admin" });
  const asBob = await signInWithPassword("bob@example.com", "chosen-by-the-admin");
  // The admin, as bob, "sets bob's own password" with the temporary password they chose.
  const changed = await changePasswordOverHttp(routes, asBob.id, { currentPassword: "chosen-by-the-admin", newPassword: "still-the-admins-choice" });
  expect(changed.status, await changed.clone().text()).toBe(200);
  const again = await signInWithPassword("bob@example.com", "still-the-admins-choice");
  // Correct behaviour: the password is still one the admin chose, so no approval as bob.
  let out: unknown = null;
  try {
    out = await reviewRequest({ actor: again.actor, requestId, decision: "approve", comment: "lgtm" });
  } catch (e) {
    out = e;
  }
  const approval = await db.approval.findFirst({ where: { requestId } });
  expect(approval, `2-of-2 approval made by the admin alone: ${JSON.stringify(out)}`).toBeNull();
  expect(out).toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("your password descends from one set by admin@example.com") });
  expect(await db.review.count({ where: { requestId } })).toBe(1);
  expect((await db.promotionRequest.findUniqueOrThrow({ where: { id: requestId } })).status).toBe("open");
  // The same once more the other way round: bob (whoever that is) approves first, then the admin is refused.
  const second = await pushedAndRequested({ client, repository: `temp-pw/bypass2-${randomUUID().slice(0, 6)}`, stage: "prod", label: "bypass2" });
  await reviewRequest({ actor: again.actor, requestId: second.requestId, decision: "approve", comment: "lgtm" });
  await expect(reviewRequest({ actor: admin, requestId: second.requestId, decision: "approve", comment: "lgtm" })).rejects.toMatchObject({
    code: "FORBIDDEN",
    message: expect.stringContaining("the password of bob@example.com, who already approved, descends from one set by you"),
  });
  // A rejection approves nothing: the admin may still turn it down.
  await expect(
    reviewRequest({ actor: admin, requestId: second.requestId, decision: "reject", comment: "not this build: the smoke test fails" }),
  ).resolves.toMatchObject({ status: "rejected" });
  expect(await db.approval.count({ where: { requestId: { in: [requestId, second.requestId] } } })).toBe(0);
  // The audit trail says whom the account counts as.
  const events = await db.auditEvent.findMany({ where: { action: "user.password", target: "bob@example.com" }, orderBy: { seq: "asc" } });
  expect(events.map((e) => e.detail)).toEqual([
    { temporary: true, self: false, countsAs: ["admin@example.com"] },
    { self: true, replaced: "admin@example.com", countsAs: ["admin@example.com"] },
  ]);
});

describe("password lineage: one person behind several accounts counts once", () => {
  it("an admin who set two reviewers' passwords cannot make up a quorum with both, at review nor at the Nth", async () => {
    const admin = await userActor("admin@example.com");
    // bob's password already descends from the admin's (above); now carol's too, and "carol" sets her own.
    await updateUser({ actor: admin, email: "carol@example.com", password: "carol-by-the-admin" });
    const tmp = await signInWithPassword("carol@example.com", "carol-by-the-admin");
    await changeOwnPassword({ actor: tmp.actor, currentPassword: "carol-by-the-admin", newPassword: "carols-own-or-is-it" });
    const carol = await signInWithPassword("carol@example.com", "carols-own-or-is-it");
    const bob = await signInWithPassword("bob@example.com", "still-the-admins-choice");

    const { requestId, digest } = await pushedAndRequested({ client, repository: `temp-pw/two-${randomUUID().slice(0, 6)}`, stage: "prod3", label: "two" });
    await reviewRequest({ actor: bob.actor, requestId, decision: "approve", comment: "lgtm" });
    await expect(reviewRequest({ actor: carol.actor, requestId, decision: "approve", comment: "lgtm" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("your password and that of bob@example.com, who already approved, descend from one set by admin@example.com"),
    });
    // An approval given before this rule (the old code let it through) with the lineage it had: not counted at the Nth.
    await db.review.create({
      data: {
        requestId,
        reviewerId: carol.id,
        decision: "approve",
        comment: "lgtm",
        gateResults: [],
        reviewerLineageIds: [(await db.user.findUniqueOrThrow({ where: { email: "admin@example.com" } })).id],
      },
    });
    const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
    expect(out).toMatchObject({ status: "open", approvals: 2, required: 3, approvalId: null });
    expect(out.notCounted).toEqual([
      expect.stringContaining("carol@example.com: their password and that of bob@example.com, who also approved, descend from one set by admin@example.com"),
    ]);
    expect(await db.approval.count({ where: { requestId } })).toBe(0);
    expect(await db.auditEvent.count({ where: { action: "approval.create", targetDigest: digest } })).toBe(0);
  });

  it("a reviewer whose password an admin set still makes up a quorum with anyone that admin is not", async () => {
    const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/ok-${randomUUID().slice(0, 6)}`, stage: "prod", label: "ok" });
    const bob = await signInWithPassword("bob@example.com", "still-the-admins-choice");
    await reviewRequest({ actor: bob.actor, requestId, decision: "approve", comment: "lgtm" });
    const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
    expect(out).toMatchObject({ approvals: 2, approvalId: expect.any(String) });
    expect(out.notCounted).toBeUndefined();
  });

  it("an operator (CLI) reset ends the lineage", async () => {
    await updateUser({ actor: { kind: "cli", label: "ops" } as Actor, email: "carol@example.com", password: "carol-from-the-operator" });
    expect((await db.user.findUniqueOrThrow({ where: { email: "carol@example.com" } })).passwordLineageIds).toEqual([]);
    const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/cli-${randomUUID().slice(0, 6)}`, stage: "prod", label: "cli" });
    await reviewRequest({ actor: await userActor("admin@example.com"), requestId, decision: "approve", comment: "lgtm" });
    const carol = await signInWithPassword("carol@example.com", "carol-from-the-operator");
    expect(await reviewRequest({ actor: carol.actor, requestId, decision: "approve", comment: "lgtm" })).toMatchObject({
      approvals: 2,
      approvalId: expect.any(String),
    });
  });

  it("an admin who set a developer's password cannot approve what was requested as that developer (the requester's lineage)", async () => {
    await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 1, reviewerGroups: ["prod-reviewers"], gates: {} } });
    const admin = await userActor("admin@example.com");
    await updateUser({ actor: admin, email: "dev@example.com", password: "dev-by-the-admin" });
    try {
      // The request is made as dev (pushedAndRequested requests as dev@example.com), by whoever knows the password.
      const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/req-${randomUUID().slice(0, 6)}`, stage: "build", label: "req" });
      await expect(reviewRequest({ actor: admin, requestId, decision: "approve", comment: "lgtm" })).rejects.toMatchObject({
        code: "FORBIDDEN",
        message: expect.stringContaining("the requester's password descends from one set by you"),
      });
      expect(await db.approval.findFirst({ where: { requestId } })).toBeNull();
      // Someone else reviews it as usual.
      const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
      expect(out).toMatchObject({ approvals: 1, approvalId: expect.any(String) });
    } finally {
      await updateUser({ actor: { kind: "cli", label: "ops" } as Actor, email: "dev@example.com", password: "dev-from-the-operator" });
    }
  });
});

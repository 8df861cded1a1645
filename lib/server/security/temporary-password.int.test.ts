// Found by a review of the single-admin policy: an admin approved as themselves, set a reviewer's password, signed in
// as the reviewer and approved again, a 2-of-2 approval with no break-glass marker. A password another user set is a
// temporary one (users/password-standing.ts): the account signs in, but does not review, waive, break glass or make
// review/admin tokens until its owner sets their own password.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { changePasswordOverHttp, signInWithPassword } from "../../../scripts/test-harness/password-session";
import { discoverRoutes, type DiscoveredRoute } from "../../../scripts/test-harness/routes";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { actorForUserId, authenticatePassword } from "../auth/authenticate";
import { upsertGroup } from "../groups/upsert-group";
import { reviewRequest } from "../promotions/review-request";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { upsertStage } from "../stages/upsert-stage";
import { createToken } from "../tokens/create-token";
import { updateUser } from "../users/update-user";
import { grantWaiver } from "../waivers/grant-waiver";

const system: Actor = { kind: "system", label: "temporary-password" };
let client: RegistryClient;
let routes: DiscoveredRoute[];

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  routes = await discoverRoutes();
  await seedUsers();
  await seedStages(["build", "prod"]);
  await upsertGroup({ actor: system, name: "prod-reviewers", members: ["alice@example.com", "bob@example.com", "carol@example.com", "admin@example.com"] });
  await upsertStage({
    actor: system,
    name: "prod",
    settings: { requiredApprovals: 2, reviewerGroups: ["prod-reviewers"], waiverGroup: "prod-reviewers", gates: {} },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("a password set by an admin is a temporary one", () => {
  it("an admin who sets a reviewer's password cannot be that reviewer's approval too; the reviewer reviews again once they set their own", async () => {
    const admin = await userActor("admin@example.com");
    const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/app-${randomUUID().slice(0, 6)}`, stage: "prod", label: "pw" });
    await reviewRequest({ actor: admin, requestId, decision: "approve", comment: "lgtm" });

    // A token bob made himself before the reset outlives everything below.
    const before = await createToken({ actor: await userActor("bob@example.com"), email: "bob@example.com", scopes: ["read"] });
    await new Promise((r) => setTimeout(r, 5));
    // The admin sets bob's password and signs in as bob: the sign-in works...
    await updateUser({ actor: admin, email: "bob@example.com", password: "chosen-by-the-admin" });
    const asBob = await signInWithPassword("bob@example.com", "chosen-by-the-admin");
    // ...but no approval, no rejection, no waiver and no review or admin token with it.
    const refused = { code: "FORBIDDEN", message: expect.stringContaining("set your own password first") };
    await expect(reviewRequest({ actor: asBob.actor, requestId, decision: "approve", comment: "lgtm" })).rejects.toMatchObject(refused);
    await expect(reviewRequest({ actor: asBob.actor, requestId, decision: "reject", comment: "no way" })).rejects.toMatchObject(refused);
    expect(await db.approval.findFirst({ where: { requestId } })).toBeNull();
    expect(await db.review.count({ where: { requestId } })).toBe(1);
    await expect(
      grantWaiver({
        actor: asBob.actor,
        stage: "prod",
        gate: "findings",
        repository: "temp-pw/anything",
        reason: "not mine to give",
        expiresAt: new Date(Date.now() + 86_400_000),
      }),
    ).rejects.toMatchObject(refused);
    await expect(createToken({ actor: asBob.actor, email: "bob@example.com", scopes: ["read", "review"] })).rejects.toMatchObject({
      code: "FORBIDDEN",
      field: "scopes",
      message: expect.stringContaining("set your own password first"),
    });
    // Without named scopes the token leaves review out; other scopes are made as before.
    const during = [
      await createToken({ actor: asBob.actor, email: "bob@example.com" }),
      await createToken({ actor: asBob.actor, email: "bob@example.com", scopes: ["read"] }),
    ];
    expect(during[0]!.scopes).not.toContain("review");
    expect(during[1]!.scopes).toEqual(["read"]);

    // Bob sets his own password (over the API, from his session): every session before it ends, the admin's too.
    const wrong = await changePasswordOverHttp(routes, asBob.id, { currentPassword: "not-it-at-all", newPassword: "bobs-own-password" });
    expect(wrong.status).toBe(422);
    await new Promise((r) => setTimeout(r, 5));
    const changed = await changePasswordOverHttp(routes, asBob.id, { currentPassword: "chosen-by-the-admin", newPassword: "bobs-own-password" });
    expect(changed.status, await changed.clone().text()).toBe(200);
    expect(await actorForUserId(asBob.id, "session", asBob.signedInAt)).toBeNull();
    expect(await authenticatePassword("bob@example.com", "chosen-by-the-admin", "127.0.0.1")).toBeNull();
    // The tokens made while the password was temporary (by whoever held it) end with it; bob's own earlier one stays.
    const revoked = async (id: string) => (await db.apiToken.findUniqueOrThrow({ where: { id } })).revokedAt !== null;
    expect(await Promise.all(during.map((t) => revoked(t.id)))).toEqual([true, true]);
    expect(await revoked(before.id)).toBe(false);

    const bob = await signInWithPassword("bob@example.com", "bobs-own-password");
    expect((await createToken({ actor: bob.actor, email: "bob@example.com", scopes: ["review"] })).scopes).toEqual(["review"]);
    // Bob reviews again, but for four eyes he still counts as the admin, who knew the password he replaced (only a CLI
    // reset ends that: temporary-password-bypass.int): not on a request the admin approved, and with anyone else.
    await expect(reviewRequest({ actor: bob.actor, requestId, decision: "approve", comment: "lgtm" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("your password descends from one set by admin@example.com, who already approved"),
    });
    await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
    const other = await pushedAndRequested({ client, repository: `temp-pw/app2-${randomUUID().slice(0, 6)}`, stage: "prod", label: "pw2" });
    await reviewRequest({ actor: await userActor("alice@example.com"), requestId: other.requestId, decision: "approve", comment: "lgtm" });
    const out = await reviewRequest({ actor: bob.actor, requestId: other.requestId, decision: "approve", comment: "lgtm" });
    expect(out).toMatchObject({ approvals: 2, approvalId: expect.any(String) });

    const events = await db.auditEvent.findMany({ where: { action: "user.password", target: "bob@example.com" }, orderBy: { seq: "asc" } });
    expect(events.map((e) => [e.actorLabel, e.detail])).toEqual([
      ["admin@example.com", { temporary: true, self: false, countsAs: ["admin@example.com"] }],
      ["bob@example.com", { self: true, replaced: "admin@example.com", countsAs: ["admin@example.com"], revokedTokens: 2 }],
    ]);
  });

  it("an approval given before someone else set the approver's password still counts, at the Nth and when re-evaluated", async () => {
    const admin = await userActor("admin@example.com");
    const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/nth-${randomUUID().slice(0, 6)}`, stage: "prod", label: "nth" });
    await reviewRequest({ actor: await userActor("carol@example.com"), requestId, decision: "approve", comment: "lgtm" });
    // A routine reset (carol forgot hers): her approval was given with her own credentials.
    await updateUser({ actor: admin, email: "carol@example.com", password: "chosen-by-the-admin" });
    const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
    expect(out).toMatchObject({ status: "signed", approvals: 2 });
    expect(out.approvalId).not.toBeNull();
    await requestReevaluation(db, { trigger: "manual" });
    await reevaluateApprovals({});
    expect(await db.stageRisk.count({ where: { approvalId: out.approvalId! } })).toBe(0);
  });

  it("an admin who sets their own password sets an ordinary one, and an admin with a temporary one cannot break glass", async () => {
    const admin = await userActor("admin@example.com");
    await updateUser({ actor: admin, email: "admin@example.com", password: "the-admins-own-new-one" });
    const self = await signInWithPassword("admin@example.com", "the-admins-own-new-one");
    expect((await createToken({ actor: self.actor, email: "admin@example.com", scopes: ["admin"] })).scopes).toEqual(["admin"]);

    // A second admin sets the first one's password: a temporary one, so no break glass and no admin token.
    await updateUser({ actor: self.actor, email: "carol@example.com", role: "admin" });
    await updateUser({ actor: await userActor("carol@example.com"), email: "admin@example.com", password: "chosen-by-carol" });
    const reset = await signInWithPassword("admin@example.com", "chosen-by-carol");
    const { requestId } = await pushedAndRequested({ client, repository: `temp-pw/glass-${randomUUID().slice(0, 6)}`, stage: "prod", label: "glass" });
    await expect(
      reviewRequest({ actor: reset.actor, requestId, decision: "approve", comment: "emergency, shipping it now", breakGlass: true }),
    ).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("set by carol@example.com") });
    await expect(createToken({ actor: reset.actor, email: "admin@example.com", scopes: ["admin"] })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

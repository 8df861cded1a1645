// N-of-M counts only reviewers who may still approve. At the Nth approval every earlier approving reviewer is judged
// again under the request's row lock: an approval by an account since disabled, demoted, removed from the stage's
// reviewer groups, or found to be the build's author is not counted, nor written into the signed payload
// (dev.imprimatur/approvers).
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { getRequest } from "./get-request";
import { listMyImages } from "./list-my-images";
import { listRequests } from "./list-requests";
import { reviewRequest, type ReviewOutcome } from "./review-request";
import { upsertStage } from "../stages/upsert-stage";
import { updateUser } from "../users/update-user";

const system: Actor = { kind: "system", label: "stale-approvers" };
let client: RegistryClient;

const provenance = (digest: string) =>
  Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "app", digest: { sha256: digest.slice(7) } }],
      predicateType: "https://slsa.dev/provenance/v1",
      predicate: {
        buildDefinition: { buildType: "https://example.com/build/v1", externalParameters: {} },
        runDetails: { builder: { id: "https://ci.example.com/runner" } },
      },
    }),
  );

async function twoOfTwo(label: string) {
  const { digest, requestId } = await pushedAndRequested({
    client,
    repository: `stale-approvers/n-of-m-${label}-${randomUUID().slice(0, 6)}`,
    stage: "test",
    label,
  });
  return { digest, requestId };
}

/** The outcome of bob's approval, as the second of two, and who the signed payload names as approvers. */
async function bobApproves(requestId: string) {
  const out = await reviewRequest({ actor: await userActor("bob@example.com"), requestId, decision: "approve", comment: "ok" }).catch((e: unknown) => e);
  const approval = await db.approval.findFirst({ where: { requestId } });
  const approvers = approval
    ? (JSON.parse(Buffer.from(approval.payload).toString("utf8")) as { optional: Record<string, string> }).optional["dev.imprimatur/approvers"]
    : null;
  return { out, approved: approval !== null, approvers };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
  await upsertStage({ actor: system, name: "test", settings: { requiredApprovals: 2, reviewerGroups: ["security"], gates: {} } });
});

afterAll(async () => {
  await disconnectDb();
});

describe("N-of-M counts only reviewers who may still approve", () => {
  it("an approval by a reviewer who was disabled afterwards does not count towards N", async () => {
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
    const { requestId } = await twoOfTwo("disabled");
    await reviewRequest({ actor: await userActor("carol@example.com"), requestId, decision: "approve", comment: "lgtm" });
    // carol's account is disabled (left the company, or compromised): her sessions end and her tokens are revoked.
    await updateUser({ actor: await userActor("admin@example.com"), email: "carol@example.com", disabled: true });
    const r = await bobApproves(requestId);
    // The outcome and the request's record say which approval no longer counts, and why.
    expect(r.out).toMatchObject({ status: "open", approvals: 1, required: 2, notCounted: ["carol@example.com: the account is disabled"] });
    const record = await getRequest({ actor: await userActor("alice@example.com"), requestId });
    expect(record.approvals).toMatchObject({ count: 1, notCounted: ["carol@example.com: the account is disabled"] });
    expect(record.approvals.summary).toContain("no longer counted: carol@example.com: the account is disabled");
    await updateUser({ actor: await userActor("admin@example.com"), email: "carol@example.com", disabled: false });
    // 1 of 2: still open, and nothing signed naming carol.
    expect({ approved: r.approved, approvers: r.approvers }, "a disabled user's approval was counted and signed into the payload").toEqual({
      approved: false,
      approvers: null,
    });
  });

  it("the inbox and 'my images' count approvals as the review does: a disabled reviewer's approval is not counted there either", async () => {
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
    // The first stage, so that it is the image's next stage in "my images".
    await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 2, reviewerGroups: ["security"], gates: {} } });
    const { digest, requestId } = await pushedAndRequested({
      client,
      repository: `stale-approvers/summaries-${randomUUID().slice(0, 6)}`,
      stage: "build",
      label: "summaries",
    });
    await reviewRequest({ actor: await userActor("carol@example.com"), requestId, decision: "approve", comment: "lgtm" });
    const admin = await userActor("admin@example.com");
    await updateUser({ actor: admin, email: "carol@example.com", disabled: true });
    try {
      const record = await getRequest({ actor: await userActor("alice@example.com"), requestId });
      expect(record.approvals.count).toBe(0);
      const inbox = (await listRequests({ actor: await userActor("alice@example.com"), view: "inbox" })).find((r) => r.id === requestId);
      expect(inbox, "alice's inbox holds the request").toBeDefined();
      expect({ state: inbox!.state, approvals: inbox!.approvals }, "the inbox counts an approval the review no longer counts").toEqual({
        state: record.state,
        approvals: record.approvals.summary,
      });
      expect(inbox!.state).toBe("awaiting review: 0 of 2 approvals");
      const mine = (await listMyImages({ actor: await userActor("dev@example.com") })).find((i) => i.digest === digest);
      expect(mine?.blockers, "'my images' counts an approval the review no longer counts").toContain(record.approvals.summary);
      expect(record.approvals.summary).toContain("has 0; no longer counted: carol@example.com: the account is disabled");
    } finally {
      await updateUser({ actor: admin, email: "carol@example.com", disabled: false });
    }
  });

  it("an approval by a reviewer removed from the stage's reviewer group afterwards does not count towards N", async () => {
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
    const { requestId } = await twoOfTwo("left-group");
    await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "lgtm" });
    await upsertGroup({ actor: system, name: "security", members: ["bob@example.com", "carol@example.com"] });
    // alice is demoted too: she may not review anything any more.
    await updateUser({ actor: await userActor("admin@example.com"), email: "alice@example.com", role: "developer" });
    const r = await bobApproves(requestId);
    await updateUser({ actor: await userActor("admin@example.com"), email: "alice@example.com", role: "reviewer" });
    expect((r.out as ReviewOutcome).notCounted).toEqual(["alice@example.com: the account's role is now developer; no longer a member of group security"]);
    expect({ approved: r.approved, approvers: r.approvers }, "an approval by a former member (now a developer) was counted").toEqual({
      approved: false,
      approvers: null,
    });
  });

  it("an approval by the account that then uploads the build's provenance does not count towards N", async () => {
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
    const { digest, requestId } = await twoOfTwo("builder");
    // carol approves first, then uploads the build's provenance with her own account: she is the build's author,
    // whom four eyes exclude ("nor the account that uploaded the build's provenance"), but only if she reviews after.
    await reviewRequest({ actor: await userActor("carol@example.com"), requestId, decision: "approve", comment: "lgtm" });
    const image = await db.image.findFirstOrThrow({ where: { digest } });
    await ingestEvidence({ actor: await userActor("carol@example.com"), imageId: image.id, bytes: provenance(digest), source: "upload" });
    const r = await bobApproves(requestId);
    expect({ approved: r.approved, approvers: r.approvers }, "the build's author's approval was counted").toEqual({ approved: false, approvers: null });
    expect((r.out as ReviewOutcome).notCounted).toEqual(["carol@example.com: uploaded this build's provenance (the build's author)"]);
  });

  it("the Nth approval that still counts signs only the approvers who count, and its audit event names the one left out", async () => {
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
    const { digest, requestId } = await twoOfTwo("third");
    const carol = await userActor("carol@example.com");
    await reviewRequest({ actor: carol, requestId, decision: "approve", comment: "lgtm" });
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
    expect((await bobApproves(requestId)).approved).toBe(false);
    const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
    expect(out).toMatchObject({ status: "signed", approvals: 2, required: 2, notCounted: ["carol@example.com: no longer a member of group security"] });
    const approval = await db.approval.findFirstOrThrow({ where: { requestId } });
    const optional = (JSON.parse(Buffer.from(approval.payload).toString("utf8")) as { optional: Record<string, string> }).optional;
    const bob = await userActor("bob@example.com");
    const alice = await userActor("alice@example.com");
    expect(optional["dev.imprimatur/approvers"]!.split(",")).toEqual([bob.id, alice.id]);
    const created = await db.auditEvent.findFirstOrThrow({ where: { action: "approval.create", targetDigest: digest } });
    expect((created.detail as { approvers: string[] }).approvers).not.toContain(carol.id);
    const reviewed = await db.auditEvent.findFirstOrThrow({ where: { action: "review.approve", targetDigest: digest, actorId: alice.id } });
    expect((reviewed.detail as { notCounted?: string[] }).notCounted).toEqual(["carol@example.com: no longer a member of group security"]);
  });

  it("a break-glass approval counts while its author is still an admin, and not once demoted", async () => {
    // alice is made an admin outside the stage's reviewer group: her approvals need break glass.
    await upsertGroup({ actor: system, name: "security", members: ["bob@example.com", "carol@example.com"] });
    await updateUser({ actor: await userActor("admin@example.com"), email: "alice@example.com", role: "admin" });
    try {
      const glass = { decision: "approve" as const, comment: "urgent fix, security lead is away", breakGlass: true, later: () => {} };
      const kept = await twoOfTwo("glass-kept");
      await reviewRequest({ actor: await userActor("alice@example.com"), requestId: kept.requestId, ...glass });
      const k = await bobApproves(kept.requestId);
      expect(k.out).toMatchObject({ status: "signed", approvals: 2 });
      expect((k.out as ReviewOutcome).notCounted).toBeUndefined();
      expect(k.approvers!.split(",")).toEqual([(await userActor("alice@example.com")).id, (await userActor("bob@example.com")).id]);

      const dropped = await twoOfTwo("glass-dropped");
      await reviewRequest({ actor: await userActor("alice@example.com"), requestId: dropped.requestId, ...glass });
      await updateUser({ actor: await userActor("admin@example.com"), email: "alice@example.com", role: "reviewer" });
      const d = await bobApproves(dropped.requestId);
      expect({ approved: d.approved, out: d.out }).toMatchObject({
        approved: false,
        out: {
          status: "open",
          approvals: 1,
          notCounted: ["alice@example.com: a break-glass approval by an account that is no longer an admin: no longer a member of group security"],
        },
      });
    } finally {
      await updateUser({ actor: await userActor("admin@example.com"), email: "alice@example.com", role: "reviewer" });
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { getImage } from "../images/get-image";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { getRequest } from "../promotions/get-request";
import { listRequests } from "../promotions/list-requests";
import { requestPromotion } from "../promotions/request-promotion";
import { upsertStage } from "../stages/upsert-stage";
import { approveStage } from "./approve-stage";

const system: Actor = { kind: "system", label: "expiry-test" };
let client: RegistryClient;
let host: string;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("approvals that expire", () => {
  it("refuses a TTL that is not a positive whole number of days, naming the field", async () => {
    for (const bad of [0, -1, 1.5, 4000]) {
      await expect(upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: bad } })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        field: "approvalTtlDays",
      });
    }
    expect((await db.stage.findUniqueOrThrow({ where: { name: "prod" } })).approvalTtlDays).toBeNull();
  });

  it("denies 'approval expired' once the trusted time is older than the stage's TTL, and a new request renews it", async () => {
    expect((await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 30 } })).approvalTtlDays).toBe(30);
    const img = buildImage({ architecture: "amd64", layers: [{ "ttl.txt": `ttl ${Date.now()}` }] });
    await pushImage(client, "ttl/app", img, ["1"]);
    await syncRegistry({ actor: system });
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const ref = `${host}/ttl/app@${img.digest}`;
    const first = await requestPromotion({ actor: dev, repository: "ttl/app", digest: img.digest, stage: "prod", note: "first" });
    const a1 = await approveStage({ actor: alice, repository: "ttl/app", digest: img.digest, stage: "prod", comment: "ok" });
    const allowed = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect(allowed.allowed).toBe(true);
    expect(allowed.reasons.join(" ")).toMatch(/valid until/);
    // While it is valid, asking again returns the same request.
    expect((await requestPromotion({ actor: dev, repository: "ttl/app", digest: img.digest, stage: "prod", note: "again" })).id).toBe(first.id);

    // 31 days pass (Imprimatur's record of the approval is its trusted time: there is no TSA token here).
    await db.approval.update({ where: { id: a1.id! }, data: { createdAt: new Date(Date.now() - 31 * 86_400_000) } });
    const expired = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect(expired.allowed).toBe(false);
    expect(expired.reasons.join(" ")).toMatch(/approval expired/);
    const page = await getImage({ actor: alice, repository: "ttl/app", digest: img.digest });
    expect(page.stages.find((s) => s.stage === "prod")).toMatchObject({ state: "approval expired" });
    // The request's record (its page and GET /api/v1/requests/{id}) says so too, not "signed" as if it still counted.
    const record = await getRequest({ actor: alice, requestId: first.id });
    expect(record.signature).toMatchObject({ status: "signed", expiry: { expired: true } });
    expect(Date.parse(record.signature!.expiry!.at)).toBeLessThanOrEqual(Date.now() - 86_400_000 + 60_000);
    expect(record.state).toMatch(/^approval expired .*: verify and ImageReview deny this stage/);
    // So does the list of requests (the inbox's "all" and "mine" views).
    const listed = (await listRequests({ actor: dev, view: "mine" })).find((r) => r.id === first.id);
    expect(listed?.state).toMatch(/^approval expired /);

    // Renewing: a new request (audited as renewing the old one), reviewed again, then the stage passes again.
    const renewal = await requestPromotion({ actor: dev, repository: "ttl/app", digest: img.digest, stage: "prod", note: "renew" });
    expect(renewal.created).toBe(true);
    expect(renewal.id).not.toBe(first.id);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "request.create" }, orderBy: { seq: "desc" } });
    expect(audit.detail).toMatchObject({ renews: first.id, previousApproval: a1.id, because: "expired" });
    const a2 = await approveStage({ actor: alice, repository: "ttl/app", digest: img.digest, stage: "prod", comment: "renewed" });
    expect(a2.id).not.toBe(a1.id);
    expect(a2.status).toBe("signed");
    expect((await getRequest({ actor: alice, requestId: renewal.id })).signature).toMatchObject({ expiry: { expired: false } });
    expect((await evaluateImage({ image: ref, stage: "prod", refuseTags: true })).allowed).toBe(true);

    // An approval ages from its decision: decided 31 days ago, its signature pending through an outage and timestamped
    // by the TSA only yesterday, it has expired all the same (the TSA's later time does not extend it).
    await db.approval.update({
      where: { id: a2.id! },
      data: { createdAt: new Date(Date.now() - 31 * 86_400_000), timestampAt: new Date(Date.now() - 86_400_000), timestampBy: "test TSA" },
    });
    const row = await db.approval.findUniqueOrThrow({ where: { id: a2.id! } });
    expect(row.trustedBy).toBe("tsa");
    expect(row.agesFrom!.getTime()).toBe(row.createdAt.getTime());
    const late = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect(late.allowed).toBe(false);
    expect(late.reasons.join(" ")).toMatch(
      /approval expired: approved .* \(time trusted by the TSA, decided .*\); stage prod approvals last 30 days from the decision/,
    );
    // Asking again renews it (request-promotion reads the same expiry).
    expect((await requestPromotion({ actor: dev, repository: "ttl/app", digest: img.digest, stage: "prod", note: "renew 2" })).created).toBe(true);

    // Lifting the TTL makes no approval expire.
    await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: null } });
    expect((await db.stage.findUniqueOrThrow({ where: { name: "prod" } })).approvalTtlDays).toBeNull();
  });
});

// An approval past its stage's TTL is denied by verify and ImageReview at once (stage_decision), but the generated
// cluster policies only check that a stage signature verifies. The scheduler's expiry step revokes it, which takes the
// signature out of the registry, so the engines stop admitting it too.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndApproved, requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import { parsePublicKey } from "../../signing/keys/software";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { schedulerTick } from "../jobs/workers";
import { getRequest } from "../promotions/get-request";
import { requestPromotion } from "../promotions/request-promotion";
import { exportStagePolicy } from "../stages/export-stage-policy";
import { upsertStage } from "../stages/upsert-stage";
import { retireExpiredApprovals } from "./retire-expired-approvals";

const system: Actor = { kind: "system", label: "expired-policy" };
const REPO = "expired-policy/app";
const DAY = 86_400_000;
let client: RegistryClient;
let host: string;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 30 } });
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

async function approvedImage(label: string) {
  const { digest, approval } = await pushedAndApproved({ client, registry: "default", repository: REPO, stage: "prod", label });
  return { digest, approvalId: approval.id, ref: `${host}/${REPO}@${digest}` };
}

/** The stage-key layers of the image's `.sig` manifest that verify with the key the generated cosign policy names. */
async function layersAdmittedByPolicy(digest: Digest): Promise<string[]> {
  const out = await exportStagePolicy({ actor: system, stage: "prod", format: "cosign" });
  const pem = [...out.content.matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g)].map((m) => m[0].replace(/^\s+/gm, ""))[0]!;
  const k = parsePublicKey(pem);
  const sig = parseManifest((await client.getManifest(REPO, cosignTag(digest, "sig"))).bytes);
  if (sig.kind !== "manifest") throw new Error("expected a manifest");
  const admitted: string[] = [];
  for (const layer of sig.manifest.layers) {
    const blob = await client.getBlob(REPO, layer.digest as Digest);
    const v = verifyCosignLayer({ layer, blob, imageDigest: digest, trustedKeys: [{ name: "from-policy", fingerprint: k.fingerprint, key: k }] });
    if (v.verdict === "verified") admitted.push(layer.digest);
  }
  return admitted;
}

const age = (approvalId: string, days: number) => db.approval.update({ where: { id: approvalId }, data: { createdAt: new Date(Date.now() - days * DAY) } });

describe("expired approvals are retired from the registry", () => {
  it("revokes an expired approval on the tick, so no engine applying the generated policy admits it, and lifting the TTL does not revive it", async () => {
    const { digest, approvalId, ref } = await approvedImage("1");
    expect(await layersAdmittedByPolicy(digest)).toHaveLength(1);
    // A valid approval is left alone.
    expect(await retireExpiredApprovals()).toMatchObject({ retired: 0 });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approvalId } })).revokedAt).toBeNull();

    await age(approvalId, 31);
    // Denied at once, before the tick.
    const before = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect(before.allowed).toBe(false);
    expect(before.reasons.join(" ")).toMatch(/approval expired/);

    const out = await retireExpiredApprovals();
    expect(out).toMatchObject({ retired: 1, pending: 0, failed: 0 });
    const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
    expect(row).toMatchObject({ revocationSource: "expiry", revokedBy: "system:expiry", revocationState: "removed" });
    expect(row.revocationReason).toMatch(/^approval expired: approved .*; stage prod approvals last 30 days from the decision, so it expired /);
    expect(await layersAdmittedByPolicy(digest), "the stage signature is gone from the registry").toEqual([]);
    const after = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect(after.allowed).toBe(false);
    expect(after.reasons.join(" ")).toMatch(/approval expired: approved/);

    // Audited and announced as a revocation by expiry.
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "approval.revoke", detail: { path: ["approvalId"], equals: approvalId } } });
    expect(audit).toMatchObject({ actorType: "system", detail: { source: "expiry" } });
    expect(await db.auditEvent.count({ where: { action: "approval.revoke.registry", detail: { path: ["approvalId"], equals: approvalId } } })).toBe(1);

    // The request's record says revoked, and why; asking again is a renewal "because expired".
    const record = await getRequest({ actor: await userActor("alice@example.com"), requestId: row.requestId! });
    expect(record.signature?.revocation).toMatchObject({ source: "expiry" });
    const renewal = await requestPromotion({ actor: await userActor("dev@example.com"), repository: REPO, digest, stage: "prod", note: "renew" });
    expect(renewal.created).toBe(true);
    const created = await db.auditEvent.findFirstOrThrow({ where: { action: "request.create" }, orderBy: { seq: "desc" } });
    expect(created.detail).toMatchObject({ previousApproval: approvalId, because: "expired" });

    // Idempotent: a second tick retires nothing more.
    expect(await retireExpiredApprovals()).toMatchObject({ retired: 0 });

    // Lifting the TTL afterwards does not bring the retired approval back.
    await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: null } });
    try {
      expect((await evaluateImage({ image: ref, stage: "prod", refuseTags: true })).allowed).toBe(false);
    } finally {
      await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 30 } });
    }
  });

  it("retires nothing whose TTL was lengthened before the tick, and retires an expired approval whose signature was still pending", async () => {
    const kept = await approvedImage("2");
    await age(kept.approvalId, 31);
    await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 60 } });
    try {
      expect(await retireExpiredApprovals()).toMatchObject({ retired: 0 });
      expect((await evaluateImage({ image: kept.ref, stage: "prod", refuseTags: true })).allowed).toBe(true);
    } finally {
      await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 30 } });
    }

    // A signature still pending (status "signing") is never to be pushed once the approval has expired.
    const pending = await approvedImage("3");
    await db.approval.update({ where: { id: pending.approvalId }, data: { status: "signing", createdAt: new Date(Date.now() - 31 * DAY) } });
    const out = await retireExpiredApprovals();
    expect(out.failed).toBe(0);
    expect(out.retired).toBe(2);
    for (const id of [kept.approvalId, pending.approvalId])
      expect(await db.approval.findUniqueOrThrow({ where: { id } })).toMatchObject({ revocationSource: "expiry", revocationState: "removed" });
  });

  it("never pushes a pending signature whose approval expired: not on the next sync, nor on the tick, nor with another approval of the image", async () => {
    const reg: RegistryHandle = await startRegistry({});
    const name = `expiry-outage-${Date.now()}`;
    try {
      const c2 = new RegistryClient({ url: reg.url });
      const img = buildImage({ architecture: "amd64", layers: [{ "outage.txt": `expired while down ${Math.random()}` }] });
      await pushImage(c2, "expiry/outage", img, ["1"]);
      await db.registry.create({ data: { name, url: reg.url } });
      await syncRegistry({ actor: system, registry: name });
      const alice = await userActor("alice@example.com");
      const sigLayers = async () => {
        try {
          const p = parseManifest((await c2.getManifest("expiry/outage", cosignTag(img.digest as Digest, "sig"))).bytes);
          return p.kind === "manifest" ? p.manifest.layers.map((l) => l.digest) : [];
        } catch {
          return [];
        }
      };

      // Approved while the registry is down: the signature stays pending, and the outage outlasts the stage's TTL.
      await reg.stop();
      const pending = await requestAndApprove({
        actor: alice,
        registry: name,
        repository: "expiry/outage",
        digest: img.digest as Digest,
        stage: "prod",
        comment: "during outage",
      });
      expect(pending.status).toBe("signing");
      await age(pending.id, 31);
      await reg.start();

      // The registry's next sync retries pending signatures: this one has expired and must not go out.
      await syncRegistry({ actor: system, registry: name });
      expect(await sigLayers(), "the expired approval's signature was pushed by the sync").not.toContain(pending.signature.layerDigest);
      expect((await db.approval.findUniqueOrThrow({ where: { id: pending.id } })).status).toBe("signing");
      expect((await db.promotionRequest.findUniqueOrThrow({ where: { id: pending.requestId! } })).status).not.toBe("signed");

      // Nor when another stage's approval of the same image is pushed (every recorded layer is merged in).
      const other = await requestAndApprove({
        actor: alice,
        registry: name,
        repository: "expiry/outage",
        digest: img.digest as Digest,
        stage: "test",
        comment: "other stage",
      });
      expect(other.status).toBe("signed");
      expect(await sigLayers()).toEqual([other.signature.layerDigest]);
      expect((await db.approval.findUniqueOrThrow({ where: { id: pending.id } })).status).toBe("signing");

      // The scheduler tick retires it, and it never reaches the registry on the way.
      await schedulerTick().catch(() => undefined);
      expect(await db.approval.findUniqueOrThrow({ where: { id: pending.id } })).toMatchObject({ revocationSource: "expiry", status: "signing" });
      expect(await sigLayers()).toEqual([other.signature.layerDigest]);
      expect(await db.auditEvent.count({ where: { action: "signature.push", outcome: "success", detail: { path: ["approvalId"], equals: pending.id } } })).toBe(
        0,
      );
    } finally {
      await reg.destroy();
      await db.registry.update({ where: { name }, data: { enabled: false } }).catch(() => {});
    }
  });

  it("retires nothing before it expires by the database's clock, whatever the clock of the replica running the tick says", async () => {
    const soon = await approvedImage("4");
    // Expires in an hour.
    await db.approval.update({ where: { id: soon.approvalId }, data: { createdAt: new Date(Date.now() - 30 * DAY + 3_600_000) } });
    // A replica whose clock is two hours ahead runs the tick.
    const out = await retireExpiredApprovals({ now: new Date(Date.now() + 2 * 3_600_000) });
    expect(out.retired).toBe(0);
    expect((await db.approval.findUniqueOrThrow({ where: { id: soon.approvalId } })).revokedAt).toBeNull();
    expect((await evaluateImage({ image: soon.ref, stage: "prod", refuseTags: true })).allowed).toBe(true);
  });
});

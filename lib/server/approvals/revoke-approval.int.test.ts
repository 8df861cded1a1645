import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage, pushOciLayout } from "../../../scripts/lib/oci-build";
import { FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { AppError } from "../../errors";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest, type ImageManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { listReferrers } from "../../oci/referrers";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { verifyAuditChain } from "../audit/verify-audit-chain";
import { getImage } from "../images/get-image";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { addTrustedKey } from "../keys/add-trusted-key";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import { completePendingRevocations } from "./complete-pending-revocations";
import { revokeApproval } from "./revoke-approval";

const PUBLISHER_DIGEST = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904" as Digest;
const REPO = "revoke-test/base";
const system: Actor = { kind: "system", label: "revoke-test" };
let client: RegistryClient;
let host: string;

async function readSig(
  c: RegistryClient,
  repo: string,
  digest: Digest,
): Promise<{ manifest: ImageManifest; config: { rootfs: { diff_ids: string[] } } & Record<string, unknown> }> {
  const m = await c.getManifest(repo, cosignTag(digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("sig is not a manifest");
  const config = JSON.parse((await c.getBlob(repo, p.manifest.config.digest as Digest)).toString("utf8"));
  return { manifest: p.manifest, config };
}

async function expectAppError(p: Promise<unknown>, code: string, field?: string) {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AppError);
  expect((e as AppError).code).toBe(code);
  if (field) expect((e as AppError & { field?: string }).field).toBe(field);
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await db.stage.update({ where: { name: "test" }, data: { emitBundle: true } });
  await addTrustedKey({ actor: system, name: "publisher", pem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8") });
  await pushOciLayout(client, REPO, join(FIXTURE, "oci-layout"));
  await syncRegistry({ actor: system });
  await db.webhook.create({
    data: { name: "admission-cache", url: "https://hooks.example.test/flush", events: ["approval.revoked"], secret: Buffer.from("x") },
  });
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("revoking one approval", () => {
  it("removes only the stage layer and its bundle from the registry, keeps the publisher's layer byte-identical, and verify denies 'revoked'", async () => {
    const before = await readSig(client, REPO, PUBLISHER_DIGEST);
    expect(before.manifest.layers).toHaveLength(1);
    const publisherLayer = JSON.stringify(before.manifest.layers[0]);
    const alice = await userActor("alice@example.com");
    const approval = await requestAndApprove({ actor: alice, repository: REPO, digest: PUBLISHER_DIGEST, stage: "test", comment: "ok" });
    const signed = await readSig(client, REPO, PUBLISHER_DIGEST);
    expect(signed.manifest.layers.map((l) => l.digest)).toEqual([before.manifest.layers[0]!.digest, approval.signature.layerDigest]);
    const bundle = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: approval.id } });
    expect((await listReferrers(client, REPO, PUBLISHER_DIGEST)).map((r) => r.digest)).toContain(bundle.artifactDigest);
    expect((await evaluateImage({ image: `${host}/${REPO}@${PUBLISHER_DIGEST}`, stage: "test", refuseTags: true })).allowed).toBe(true);

    // Bad input and authorization: nothing is written.
    await expectAppError(revokeApproval({ approvalId: approval.id, actor: alice, reason: "  " }), "INVALID_INPUT", "reason");
    await expectAppError(revokeApproval({ approvalId: approval.id, actor: await userActor("dev@example.com"), reason: "compromised build" }), "FORBIDDEN");
    await expectAppError(revokeApproval({ approvalId: "not-a-uuid", actor: alice, reason: "compromised build" }), "NOT_FOUND");
    expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revokedAt).toBeNull();

    const r = await revokeApproval({ approvalId: approval.id, actor: alice, reason: "built from a compromised commit" });
    expect(r).toMatchObject({
      alreadyRevoked: false,
      state: "removed",
      error: null,
      stage: "test",
      reason: "built from a compromised commit",
      revokedBy: "alice@example.com",
    });

    // The registry: the stage layer is gone, the publisher's descriptor is byte-identical, diff_ids follow the layers.
    const after = await readSig(client, REPO, PUBLISHER_DIGEST);
    expect(after.manifest.layers.map((l) => JSON.stringify(l))).toEqual([publisherLayer]);
    expect(after.config.rootfs.diff_ids).toEqual([before.manifest.layers[0]!.digest]);
    const keys = await loadTrustedKeys();
    const v = verifyCosignLayer({
      layer: after.manifest.layers[0]!,
      blob: await client.getBlob(REPO, after.manifest.layers[0]!.digest as Digest),
      imageDigest: PUBLISHER_DIGEST,
      trustedKeys: keys,
    });
    expect(v.verdict).toBe("verified");
    // The bundle referrer is unlisted and deleted.
    expect((await listReferrers(client, REPO, PUBLISHER_DIGEST)).map((x) => x.digest)).not.toContain(bundle.artifactDigest);
    await expect(client.getManifest(REPO, bundle.artifactDigest)).rejects.toMatchObject({ code: "NOT_FOUND" });

    // Verify and the image page.
    const verdict = await evaluateImage({ image: `${host}/${REPO}@${PUBLISHER_DIGEST}`, stage: "test", refuseTags: true });
    expect(verdict.allowed).toBe(false);
    expect(verdict.reasons.join(" ")).toMatch(/revoked/);
    expect(verdict.reasons.join(" ")).toContain("built from a compromised commit");
    const page = await getImage({ actor: alice, repository: REPO, digest: PUBLISHER_DIGEST });
    expect(page.stages.find((s) => s.stage === "test")?.state).toBe("revoked");

    // Written: the record, audit events in the chain, the webhook in the outbox.
    const row = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(row).toMatchObject({
      revokedBy: "alice@example.com",
      revokedById: alice.id,
      revocationReason: "built from a compromised commit",
      revocationSource: "manual",
      revocationState: "removed",
    });
    const audits = await db.auditEvent.findMany({ where: { action: { in: ["approval.revoke", "approval.revoke.registry"] } }, orderBy: { seq: "asc" } });
    expect(audits.map((a) => `${a.action}:${a.outcome}`)).toEqual(["approval.revoke:denied", "approval.revoke:success", "approval.revoke.registry:success"]);
    expect((await verifyAuditChain()).ok).toBe(true);
    const hooks = await db.webhookDelivery.findMany({ where: { event: "approval.revoked" } });
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.payload).toMatchObject({ approvalId: approval.id, stage: "test", digest: PUBLISHER_DIGEST, reason: "built from a compromised commit" });

    // Idempotent: the existing revocation is the answer.
    const again = await revokeApproval({ approvalId: approval.id, actor: await userActor("admin@example.com"), reason: "another reason" });
    expect(again).toMatchObject({ alreadyRevoked: true, revokedAt: r.revokedAt, reason: "built from a compromised commit", revokedBy: "alice@example.com" });
    expect(await db.webhookDelivery.count({ where: { event: "approval.revoked" } })).toBe(1);

    // A later push for another stage does not bring the revoked layer back.
    const prod = await requestAndApprove({ actor: alice, repository: REPO, digest: PUBLISHER_DIGEST, stage: "prod", comment: "prod" });
    const withProd = await readSig(client, REPO, PUBLISHER_DIGEST);
    expect(withProd.manifest.layers.map((l) => l.digest)).toEqual([before.manifest.layers[0]!.digest, prod.signature.layerDigest]);
    expect(JSON.stringify(withProd.manifest.layers[0])).toBe(publisherLayer);
  });

  it("records a revocation while the registry is down as pending, denies at once, and the tick finishes it", async () => {
    const reg: RegistryHandle = await startRegistry({});
    try {
      const c2 = new RegistryClient({ url: reg.url });
      const img = buildImage({ architecture: "amd64", layers: [{ "down.txt": `revoke ${Date.now()}` }] });
      await pushImage(c2, "outage/app", img, ["1"]);
      await db.registry.create({ data: { name: "revoke-outage", url: reg.url } });
      await syncRegistry({ actor: system, registry: "revoke-outage" });
      const alice = await userActor("alice@example.com");
      const approval = await requestAndApprove({
        actor: alice,
        registry: "revoke-outage",
        repository: "outage/app",
        digest: img.digest,
        stage: "build",
        comment: "ok",
      });
      const ref = `${new URL(reg.url).host}/outage/app@${img.digest}`;
      expect((await evaluateImage({ image: ref, stage: "build", refuseTags: true })).allowed).toBe(true);

      await reg.stop();
      const r = await revokeApproval({ approvalId: approval.id, actor: await userActor("admin@example.com"), reason: "key exposure suspected" });
      expect(r.state).toBe("pending");
      expect(r.error).toBeTruthy();
      const during = await evaluateImage({ image: ref, stage: "build", refuseTags: true });
      expect(during.allowed).toBe(false);
      expect(during.reasons.join(" ")).toMatch(/revoked/);
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("pending");

      await reg.start();
      const tick = await completePendingRevocations({ actor: system });
      expect(tick.removed).toBe(1);
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("removed");
      const sig = await readSig(c2, "outage/app", img.digest);
      expect(sig.manifest.layers).toHaveLength(0);
      expect(sig.config.rootfs.diff_ids).toEqual([]);
      expect((await evaluateImage({ image: ref, stage: "build", refuseTags: true })).allowed).toBe(false);
    } finally {
      await reg.destroy();
    }
  });
});

// A revoked approval's signature layer, pushed back into the `.sig` manifest by anyone with push access (a security
// review's finding). Revocation reaches clusters that enforce a stage with the generated policies (Kyverno,
// policy-controller, the cosign script) only by the layer leaving the registry (README "How a revocation reaches a
// cluster"), and the simple-signing signature itself still verifies with the stage key. The next sync finds it, puts
// the revocation back to "pending" (audited), and the scheduler tick's retry removes it again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSig } from "../../../scripts/test-harness/read-sig";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { pushReferrer } from "../../oci/push-referrer";
import { cosignTag } from "../../oci/reference";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { completePendingRevocations } from "./complete-pending-revocations";
import { revokeApproval } from "./revoke-approval";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import { reviewRequest } from "../promotions/review-request";

const system: Actor = { kind: "system", label: "reappearing signature test" };
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("a revoked signature layer pushed back", () => {
  it("is found by the next sync and removed again, so cluster policies stop admitting the revoked digest", async () => {
    const repo = "reappear/app";
    const { digest, requestId } = await pushedAndRequested({ client, repository: repo, stage: "test", label: "revoked-then-repushed" });
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
    expect(outcome.status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } });
    const stageLayer = (await readSig(client, repo, digest)).manifest.layers.find((l) => l.digest === approval.layerDigest)!;
    expect(stageLayer.mediaType).toBe(MT.cosignSimpleSigning);

    const r = await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "built from a compromised commit" });
    expect(r.state).toBe("removed");
    expect((await readSig(client, repo, digest)).manifest.layers.map((l) => l.digest)).not.toContain(approval.layerDigest);

    // The developer whose image was revoked puts the layer back: the descriptor (payload digest and signature
    // annotation) was public in the registry, and the payload blob is still there.
    const now = await readSig(client, repo, digest);
    const back = appendSignatureLayers({ existing: now.manifest, existingConfig: now.config, add: [stageLayer] });
    await client.putBlob(repo, back.config);
    await client.putManifest(repo, cosignTag(digest, "sig"), back.manifest, MT.ociManifest);
    // What `cosign verify --key stage.pub` and the generated policies check: it verifies with the stage key.
    const v = verifyCosignLayer({
      layer: stageLayer,
      blob: await client.getBlob(repo, stageLayer.digest as Digest),
      imageDigest: digest,
      trustedKeys: await loadTrustedKeys(),
    });
    expect(v.verdict).toBe("verified");
    // Imprimatur's own answer is still right.
    expect((await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${repo}@${digest}`, stage: "test", refuseTags: true })).allowed).toBe(
      false,
    );

    // The next sync reads the changed `.sig` manifest and reopens the revocation, audited.
    await syncRegistry({ actor: system, registry: "default" });
    const reopened = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(reopened.revocationState).toBe("pending");
    expect(reopened.revocationError).toMatch(/reappeared in the registry/);
    const audit = await db.auditEvent.findFirst({ where: { action: "approval.revoke.registry", outcome: "failure", targetDigest: digest } });
    expect(audit?.detail).toMatchObject({ approvalIds: [approval.id] });
    // The scheduler tick's retry takes it out again.
    await completePendingRevocations({ actor: system });
    const layers = (await readSig(client, repo, digest)).manifest.layers.map((l) => l.digest);
    const row = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect({ revokedLayerInRegistry: layers.includes(approval.layerDigest), revocationState: row.revocationState }).toEqual({
      revokedLayerInRegistry: false,
      revocationState: "removed",
    });
    // A sync with the layer gone changes nothing more.
    await syncRegistry({ actor: system, registry: "default" });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("removed");
  });

  it("finds a revoked Sigstore bundle attached again in a new referrer manifest (as `oras attach` of the saved bundle does), and removes it", async () => {
    const repo = "reappear/bundle";
    await db.stage.update({ where: { name: "test" }, data: { emitBundle: true } });
    try {
      const { digest, requestId } = await pushedAndRequested({ client, repository: repo, stage: "test", label: "bundle-revoked-then-reattached" });
      const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok" });
      expect(outcome.status).toBe("signed");
      const bundle = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: outcome.approvalId! } });
      const bundleBytes = await client.getBlob(repo, bundle.bundleDigest as Digest);
      const image = await db.image.findFirstOrThrow({ where: { digest } });

      const r = await revokeApproval({
        approvalId: outcome.approvalId!,
        actor: await userActor("alice@example.com"),
        reason: "built from a compromised commit",
      });
      expect(r.state).toBe("removed");

      // Anyone with push access attaches the saved bundle again: same bundle, a new manifest (its created annotation).
      const again = await pushReferrer({
        client,
        repository: repo,
        subject: { mediaType: image.mediaType, digest, size: image.size },
        artifactType: MT.sigstoreBundleV03,
        blobBytes: bundleBytes,
        blobMediaType: MT.sigstoreBundleV03,
        annotations: { "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" },
        created: new Date(Date.now() + 5_000),
      });
      expect(again.descriptor.digest).not.toBe(bundle.artifactDigest);

      await syncRegistry({ actor: system, registry: "default" });
      // It verifies with the stage key: what policy-controller's `signatureFormat: bundle` checks.
      const sig = await db.signature.findFirst({ where: { imageId: image.id, artifactDigest: again.descriptor.digest } });
      expect(sig).toMatchObject({ verdict: "verified", role: "stage" });
      const reopened = await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } });
      expect(reopened.revocationState, "the re-attached revoked bundle was not noticed").toBe("pending");

      await completePendingRevocations({ actor: system });
      expect((await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } })).revocationState).toBe("removed");
      await syncRegistry({ actor: system, registry: "default" });
      expect(
        await db.signature.count({ where: { imageId: image.id, role: "stage", verdict: "verified" } }),
        "a stage signature still verifies in the registry",
      ).toBe(0);
      expect((await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } })).revocationState).toBe("removed");
    } finally {
      await db.stage.update({ where: { name: "test" }, data: { emitBundle: false } });
    }
  });

  it("is removed by the tick even when older revocations stay stuck on a registry that is gone (they do not take every retry slot)", async () => {
    const reg: RegistryHandle = await startRegistry({});
    const name = `stuck-${Date.now()}`;
    const alice = await userActor("alice@example.com");
    try {
      // Older revocations that cannot finish: their registry went away for good.
      const c2 = new RegistryClient({ url: reg.url });
      await db.registry.create({ data: { name, url: reg.url } });
      const stuck: string[] = [];
      for (const label of ["a", "b"]) {
        const img = buildImage({ architecture: "amd64", layers: [{ "stuck.txt": `${label} ${Math.random()}` }] });
        await pushImage(c2, "stuck/app", img, [label]);
        await syncRegistry({ actor: system, registry: name });
        stuck.push(
          (await requestAndApprove({ actor: alice, registry: name, repository: "stuck/app", digest: img.digest as Digest, stage: "build", comment: "ok" })).id,
        );
      }
      await reg.stop();
      for (const id of stuck) expect((await revokeApproval({ approvalId: id, actor: alice, reason: "registry decommissioned" })).state).toBe("pending");

      // A revoked signature put back on a healthy registry, found by its sync.
      const repo = "reappear/starved";
      const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `starved ${Math.random()}` }] });
      await pushImage(client, repo, img, ["1"]);
      await syncRegistry({ actor: system, registry: "default" });
      const approval = await requestAndApprove({
        actor: alice,
        registry: "default",
        repository: repo,
        digest: img.digest as Digest,
        stage: "build",
        comment: "ok",
      });
      const layer = (await readSig(client, repo, img.digest as Digest)).manifest.layers.find((l) => l.digest === approval.signature.layerDigest)!;
      expect((await revokeApproval({ approvalId: approval.id, actor: alice, reason: "built from a compromised commit" })).state).toBe("removed");
      const now = await readSig(client, repo, img.digest as Digest);
      const back = appendSignatureLayers({ existing: now.manifest, existingConfig: now.config, add: [layer] });
      await client.putBlob(repo, back.config);
      await client.putManifest(repo, cosignTag(img.digest as Digest, "sig"), back.manifest, MT.ociManifest);
      await syncRegistry({ actor: system, registry: "default" });
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("pending");

      // A few ticks, each retrying as many images as the stuck ones fill (the tick's limit is 20; 2 here).
      for (let tick = 0; tick < 3; tick++) await completePendingRevocations({ actor: system, limit: 2 });
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState, "starved behind revocations that cannot finish").toBe(
        "removed",
      );
      expect((await readSig(client, repo, img.digest as Digest)).manifest.layers.map((l) => l.digest)).not.toContain(approval.signature.layerDigest);
    } finally {
      await reg.start();
      await reg.destroy();
      await db.registry.update({ where: { name }, data: { name: `${name}-gone`, enabled: false } }).catch(() => {});
    }
  });
});

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage, pushOciLayout } from "../../../scripts/lib/oci-build";
import { DEMO_USERS, FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest, type ImageManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import type { Actor } from "../actor";
import { verifyAuditChain } from "../audit/verify-audit-chain";
import { syncRegistry } from "../images/sync-registry";
import { getImage } from "../images/get-image";
import { addTrustedKey } from "../keys/add-trusted-key";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import { approveStage } from "./approve-stage";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { completePendingSignatures } from "./complete-pending-signatures";
import { requestPromotion } from "../promotions/request-promotion";

const PUBLISHER_DIGEST = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904" as Digest;
const system: Actor = { kind: "system", label: "test" };
const registryUrl = () => process.env.REGISTRY_URL!;
let client: RegistryClient;

async function readSig(c: RegistryClient, repo: string, digest: Digest): Promise<ImageManifest> {
  const m = await c.getManifest(repo, cosignTag(digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("sig is not a manifest");
  return p.manifest;
}

async function verifyAll(c: RegistryClient, repo: string, digest: Digest) {
  const keys = await loadTrustedKeys();
  const sig = await readSig(c, repo, digest);
  return Promise.all(
    sig.layers.map(async (layer) => verifyCosignLayer({ layer, blob: await c.getBlob(repo, layer.digest as Digest), imageDigest: digest, trustedKeys: keys })),
  );
}

beforeAll(async () => {
  client = new RegistryClient({ url: registryUrl() });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await addTrustedKey({ actor: system, name: "publisher", pem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8") });
  await pushOciLayout(client, "publisher/base", join(FIXTURE, "oci-layout"));
  await syncRegistry({ actor: system });
});

afterAll(async () => {
  await disconnectDb();
});

describe("approving a stage signs the digest in cosign's format", () => {
  it("appends a stage signature next to the publisher's, keeping the publisher's layer unchanged, and both verify", async () => {
    const original = await readSig(client, "publisher/base", PUBLISHER_DIGEST);
    expect(original.layers).toHaveLength(1);
    const alice = await userActor("alice@example.com");

    const approval = await requestAndApprove({ actor: alice, repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "test", comment: "looks good" });
    expect(approval.status).toBe("signed");

    const after = await readSig(client, "publisher/base", PUBLISHER_DIGEST);
    expect(after.layers).toHaveLength(2);
    expect(JSON.stringify(after.layers[0])).toBe(JSON.stringify(original.layers[0]));
    expect(after.layers[1]!.digest).toBe(approval.signature.layerDigest);
    expect(after.layers[1]!.annotations?.[SIGNATURE_ANNOTATION]).toBe(approval.signature.signature);

    const config = JSON.parse((await client.getBlob("publisher/base", after.config.digest as Digest)).toString());
    expect(config.rootfs.diff_ids).toEqual(after.layers.map((l) => l.digest));

    const verdicts = await verifyAll(client, "publisher/base", PUBLISHER_DIGEST);
    expect(verdicts.map((v) => v.verdict)).toEqual(["verified", "verified"]);
    expect(verdicts[0]!.key?.name).toBe("publisher");
    expect(verdicts[1]!.key?.name).toMatch(/^stage:test/);

    // The payload is cosign's simple-signing format with string-only optional values and no email.
    const payload = JSON.parse(approval.signature.payload);
    expect(payload.critical).toEqual({
      identity: { "docker-reference": `${new URL(registryUrl()).host}/publisher/base` },
      image: { "docker-manifest-digest": PUBLISHER_DIGEST },
      type: "cosign container image signature",
    });
    expect(Object.values(payload.optional).every((v) => typeof v === "string")).toBe(true);
    expect(JSON.stringify(payload.optional)).not.toContain("@example.com");
    expect(payload.optional["dev.imprimatur/stage"]).toBe("test");
    expect(payload.optional["dev.imprimatur/approved-at"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const detail = await getImage({ actor: alice, repository: "publisher/base", digest: PUBLISHER_DIGEST });
    expect(detail.signatures.map((s) => s.verdict)).toEqual(["verified", "verified"]);
    expect(detail.stages.find((s) => s.stage === "test")?.state).toBe("approved");
    expect(detail.currentStage).toBe("test");
  });

  it("keeps both signatures when two approvals of one digest race", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "race.txt": "race" }] });
    await pushImage(client, "race/app", img, ["1"]);
    const [alice, bob] = await Promise.all([userActor("alice@example.com"), userActor("bob@example.com")]);
    const [a, b] = await Promise.all([
      requestAndApprove({ actor: alice, repository: "race/app", digest: img.digest, stage: "test", comment: "a" }),
      requestAndApprove({ actor: bob, repository: "race/app", digest: img.digest, stage: "prod", comment: "b" }),
    ]);
    expect([a.status, b.status]).toEqual(["signed", "signed"]);
    const sig = await readSig(client, "race/app", img.digest);
    expect(sig.layers.map((l) => l.digest).sort()).toEqual([a.signature.layerDigest, b.signature.layerDigest].sort());
    expect((await verifyAll(client, "race/app", img.digest)).every((v) => v.verdict === "verified")).toBe(true);
  });

  it("merges back a recorded layer that another writer dropped from the .sig manifest", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "clobber.txt": "x" }] });
    await pushImage(client, "race/clobber", img, ["1"]);
    const alice = await userActor("alice@example.com");
    const first = await requestAndApprove({ actor: alice, repository: "race/clobber", digest: img.digest, stage: "test", comment: "first" });
    // Another tool rewrites the .sig manifest from a stale read: our layer is gone.
    const foreign = Buffer.from(
      '{"critical":{"identity":{"docker-reference":"x/y"},"image":{"docker-manifest-digest":"' +
        img.digest +
        '"},"type":"cosign container image signature"},"optional":null}',
    );
    const cfg = Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: [sha256Digest(foreign)] } }));
    await client.putBlob("race/clobber", foreign);
    await client.putBlob("race/clobber", cfg);
    const stale = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256Digest(cfg), size: cfg.length },
      layers: [
        {
          mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
          digest: sha256Digest(foreign),
          size: foreign.length,
          annotations: { [SIGNATURE_ANNOTATION]: "MEUCIQ==" },
        },
      ],
    };
    await client.putManifest("race/clobber", cosignTag(img.digest, "sig"), Buffer.from(JSON.stringify(stale)), stale.mediaType);

    const second = await requestAndApprove({ actor: alice, repository: "race/clobber", digest: img.digest, stage: "prod", comment: "second" });
    const sig = await readSig(client, "race/clobber", img.digest);
    expect(sig.layers.map((l) => l.digest)).toEqual([sha256Digest(foreign), first.signature.layerDigest, second.signature.layerDigest]);
  });

  it("leaves the approval 'signing' when the registry is down, and retry completes it", async () => {
    const reg: RegistryHandle = await startRegistry({});
    try {
      const c2 = new RegistryClient({ url: reg.url });
      const img = buildImage({ architecture: "amd64", layers: [{ "outage.txt": "down" }] });
      await pushImage(c2, "outage/app", img, ["1"]);
      await db.registry.create({ data: { name: "outage", url: reg.url } });
      await syncRegistry({ actor: system, registry: "outage" });
      const alice = await userActor("alice@example.com");

      await reg.stop();
      const pending = await requestAndApprove({
        actor: alice,
        registry: "outage",
        repository: "outage/app",
        digest: img.digest,
        stage: "test",
        comment: "during outage",
      });
      expect(pending.status).toBe("signing");
      expect(pending.pendingReason).toMatch(/unreachable/);
      const row = await db.approval.findUniqueOrThrow({ where: { id: pending.id } });
      expect(row.status).toBe("signing");
      expect(row.attempts).toBe(1);
      // Never reported as passed while the signature is not in the registry.
      const during = await getImage({ actor: alice, registry: "outage", repository: "outage/app", digest: img.digest });
      expect(during.stages.find((s) => s.stage === "test")?.state).toBe("signature pending");

      await reg.start();
      // The next sync of that registry finds the pending approval and completes it.
      const r = await syncRegistry({ actor: system, registry: "outage" });
      expect(r.pendingCompleted).toBe(1);
      // Nothing left for a direct retry.
      expect(
        (await completePendingSignatures({ actor: system, registryId: (await db.registry.findUniqueOrThrow({ where: { name: "outage" } })).id })).pending,
      ).toBe(0);
      expect((await db.approval.findUniqueOrThrow({ where: { id: pending.id } })).status).toBe("signed");
      const sig = await readSig(c2, "outage/app", img.digest);
      expect(sig.layers.map((l) => l.digest)).toEqual([pending.signature.layerDigest]);
      const after = await getImage({ actor: alice, registry: "outage", repository: "outage/app", digest: img.digest });
      expect(after.stages.find((s) => s.stage === "test")?.state).toBe("approved");
    } finally {
      await reg.destroy();
      await db.registry.update({ where: { name: "outage" }, data: { name: `outage-gone-${Date.now()}` } }).catch(() => {});
    }
  });
});

describe("the same repository and digest in two registries", () => {
  // Found by review: without a registry, an approval landed on the newest open request of that repository and digest
  // in any registry, so a developer could put their own request (its evidence, its waivers) under the reviewer's click.
  it("needs the registry named to approve, and then approves the request in that registry", async () => {
    const reg: RegistryHandle = await startRegistry({});
    try {
      const img = buildImage({ architecture: "amd64", layers: [{ "twin.txt": "same bytes in two registries" }] });
      await pushImage(client, "twin/app", img, ["1"]);
      await pushImage(new RegistryClient({ url: reg.url }), "twin/app", img, ["1"]);
      await db.registry.create({ data: { name: "twin", url: reg.url } });
      await syncRegistry({ actor: system, registry: "default" });
      await syncRegistry({ actor: system, registry: "twin" });
      await requestPromotion({
        actor: await userActor("dev@example.com"),
        registry: "twin",
        repository: "twin/app",
        digest: img.digest,
        stage: "build",
        note: "n",
      });
      const alice = await userActor("alice@example.com");
      const refused = await approveStage({ actor: alice, repository: "twin/app", digest: img.digest, stage: "build", comment: "ok" }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: "INVALID_INPUT", field: "registry" });
      expect((refused as Error).message).toMatch(
        /^registry is required: twin\/app@sha256:[0-9a-f]{64} is in several registries \((default, twin|twin, default)\)$/,
      );
      expect(await db.approval.count({ where: { imageId: { in: (await db.image.findMany({ where: { digest: img.digest } })).map((i) => i.id) } } })).toBe(0);
      const approved = await approveStage({ actor: alice, registry: "twin", repository: "twin/app", digest: img.digest, stage: "build", comment: "ok" });
      const row = await db.approval.findUniqueOrThrow({ where: { id: approved.id! } });
      const image = await db.image.findUniqueOrThrow({ where: { id: row.imageId }, include: { repository: { include: { registry: true } } } });
      expect(image.repository.registry.name).toBe("twin");
    } finally {
      await reg.destroy();
      await db.registry.update({ where: { name: "twin" }, data: { name: `twin-gone-${Date.now()}` } }).catch(() => {});
    }
  });
});

describe("approval refusals write nothing", () => {
  it("refuses developers and managers with FORBIDDEN", async () => {
    for (const email of ["dev@example.com", "manager@example.com"]) {
      await expect(
        approveStage({
          actor: await userActor(email),
          registry: "default",
          repository: "publisher/base",
          digest: PUBLISHER_DIGEST,
          stage: "test",
          comment: "x",
        }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
    }
  });

  it("answers NOT_FOUND for a digest the registry lacks, an unknown stage, and writes nothing", async () => {
    const alice = await userActor("alice@example.com");
    const dev = await userActor("dev@example.com");
    const before = {
      approvals: await db.approval.count(),
      requests: await db.promotionRequest.count(),
      audit: await db.auditEvent.count(),
      images: await db.image.count(),
    };
    const missing = sha256Digest("no such manifest");
    await expect(
      requestPromotion({ actor: dev, registry: "default", repository: "publisher/base", digest: missing, stage: "test", note: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(
      requestPromotion({ actor: dev, registry: "default", repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "staging", note: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND", field: "stage" });
    // An unknown digest is named as unknown (404), not "no open request" (409).
    await expect(
      approveStage({ actor: alice, registry: "default", repository: "publisher/base", digest: missing, stage: "test", comment: "x" }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect({
      approvals: await db.approval.count(),
      requests: await db.promotionRequest.count(),
      audit: await db.auditEvent.count(),
      images: await db.image.count(),
    }).toEqual(before);
  });

  it("keeps the audit chain intact through all of the above", async () => {
    expect((await verifyAuditChain()).ok).toBe(true);
    const actions = (await db.auditEvent.findMany({ select: { action: true } })).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["approval.create", "signature.push", "registry.sync", "key.create", "trust.add"]));
    expect(DEMO_USERS.length).toBe(6);
  });
});

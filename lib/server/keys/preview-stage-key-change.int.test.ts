import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { previewTrustIdentityDeletion } from "../trust/preview-trust-identity-deletion";
import { previewStageKeyChange } from "./preview-stage-key-change";
import { rotateStageKey } from "./rotate-signing-key";
import { generateKeyPairSync } from "node:crypto";

const system: Actor = { kind: "system", label: "preview-test" };
let client: RegistryClient;

async function approveNew(name: string, stage: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${name} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, `preview/${name}`, img, ["1"]);
  await syncRegistry({ actor: system });
  const a = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: `preview/${name}`, digest: img.digest, stage, comment: "ok" });
  return { repo: `preview/${name}`, digest: img.digest, approvalId: a.id };
}

/** Every table a preview could touch, counted: a preview must write nothing. */
async function counts() {
  return {
    keys: await db.signingKey.count(),
    approvals: await db.approval.count({ where: { revokedAt: null } }),
    audit: await db.auditEvent.count(),
    trust: await db.trustIdentity.count(),
  };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("previews of dangerous actions", () => {
  it("a stage key preview lists the images signed by the key a rotation retires, writes nothing, and is empty after the rotation", async () => {
    const one = await approveNew("one", "prod");
    const two = await approveNew("two", "prod");
    const admin = await userActor("admin@example.com");
    const before = await counts();
    const p = await previewStageKeyChange({ actor: admin, stage: "prod" });
    const current = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "prod" }, retiredAt: null, revokedAt: null } });
    expect(p.retiring).toMatchObject({ name: current.name, fingerprint: current.fingerprint });
    expect(p.images.map((i) => `${i.repository}@${i.digest}`).sort()).toEqual([`${one.repo}@${one.digest}`, `${two.repo}@${two.digest}`].sort());
    expect(p.images.map((i) => i.approvalId).sort()).toEqual([one.approvalId, two.approvalId].sort());
    expect(await counts()).toEqual(before);

    await rotateStageKey({ actor: admin, stage: "prod" });
    const after = await previewStageKeyChange({ actor: admin, stage: "prod" });
    expect(after.retiring?.name).not.toBe(current.name);
    expect(after.images).toEqual([]);
  });

  it("refuses a reviewer (FORBIDDEN) and an unknown stage (NOT_FOUND naming the field)", async () => {
    await expect(previewStageKeyChange({ actor: await userActor("alice@example.com"), stage: "prod" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(previewStageKeyChange({ actor: await userActor("admin@example.com"), stage: "nope" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      field: "stage",
    });
  });

  it("a trust identity preview lists the verified signatures it vouches for, and nothing for an unused identity", async () => {
    const admin = await userActor("admin@example.com");
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    await createTrustIdentity({
      actor: admin,
      input: { name: "preview-unused", kind: "key", role: "publisher", scope: ["preview/**"], publicKeyPem: pem },
    } as Parameters<typeof createTrustIdentity>[0]);
    const before = await counts();
    expect(await previewTrustIdentityDeletion({ actor: admin, name: "preview-unused" })).toMatchObject({
      name: "preview-unused",
      role: "publisher",
      signatures: [],
      images: 0,
    });
    // A verified signature row naming the identity (as refresh-signatures writes it) is listed.
    const img = await db.image.findFirstOrThrow({ where: { repository: { name: "preview/one" } }, select: { id: true, digest: true } });
    await db.signature.create({
      data: {
        imageId: img.id,
        layerDigest: `sha256:${"a".repeat(64)}`,
        position: 0,
        mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
        annotations: {},
        verdict: "verified",
        detail: "ok",
        keyName: "preview-unused",
        role: "publisher",
      },
    });
    const p = await previewTrustIdentityDeletion({ actor: admin, name: "preview-unused" });
    expect(p.signatures).toEqual([expect.objectContaining({ repository: "preview/one", digest: img.digest, role: "publisher" })]);
    expect(p.images).toBe(1);
    expect(await db.trustIdentity.count()).toBe(before.trust);
    await expect(previewTrustIdentityDeletion({ actor: admin, name: "missing" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(previewTrustIdentityDeletion({ actor: await userActor("dev@example.com"), name: "preview-unused" })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
  });
});

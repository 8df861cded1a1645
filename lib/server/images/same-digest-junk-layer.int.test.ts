// A cosign layer digest binds the payload, not the signature annotation beside it, and the payload of an approval is
// public. Someone with push access and no key can put a junk layer under the very digest of an approval's stage layer,
// in front of it in the `.sig` manifest, or instead of it. The approval's signature must keep verifying (the layer
// carrying the recorded signature is the one judged for that digest), and Imprimatur's next write of the manifest
// must put the genuine layer back (a layer of that digest with another signature is not the approval's). The same holds
// for anyone's signature: several signatures over one public payload share its digest, and junk among them hides none.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest, type Descriptor, type ImageManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { generateP256, signP256 } from "../../signing/keys/software";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "same-digest-junk-test" };
const REPO = "same-digest-junk/app";
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

async function decision(imageId: string, stage: string) {
  const st = await db.stage.findUniqueOrThrow({ where: { name: stage } });
  const [row] = await db.$queryRawUnsafe<{ allowed: boolean; detail: string }[]>(
    `SELECT allowed, detail FROM stage_decision_now($1::uuid, $2::uuid)`,
    imageId,
    st.id,
  );
  return row;
}

async function sigManifest(digest: Digest): Promise<ImageManifest> {
  const m = await client.getManifest(REPO, cosignTag(digest, "sig"));
  const parsed = parseManifest(m.bytes, m.mediaType);
  if (parsed.kind !== "manifest") throw new Error("expected a manifest");
  return parsed.manifest;
}

async function putSigManifest(digest: Digest, manifest: ImageManifest, layers: Descriptor[]) {
  await client.putManifest(REPO, cosignTag(digest, "sig"), Buffer.from(JSON.stringify({ ...manifest, layers })), MT.ociManifest);
}

async function approvedImage(label: string, stage: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${label} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, REPO, img, [label]);
  await syncRegistry({ actor: admin, registry: "default" });
  const digest = img.digest as Digest;
  const approval = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: REPO, digest, stage, comment: "ok" });
  const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
  expect((await decision(image.id, stage))?.allowed).toBe(true);
  return { digest, approval, image };
}

const junkUnder = (layer: Descriptor, text: string): Descriptor => ({
  ...layer,
  annotations: { [SIGNATURE_ANNOTATION]: Buffer.from(text).toString("base64") },
});

describe("a junk layer under an approval's layer digest", () => {
  it("put in front of the approval's layer, does not stop the approval's signature from verifying", async () => {
    const { digest, approval, image } = await approvedImage("in-front", "test");
    const manifest = await sigManifest(digest);
    const stageLayer = manifest.layers.find((l) => l.digest === approval.signature.layerDigest)!;
    await putSigManifest(digest, manifest, [junkUnder(stageLayer, "junk"), junkUnder(stageLayer, "more junk"), ...manifest.layers]);

    await syncRegistry({ actor: admin, registry: "default" });
    const row = await db.signature.findUniqueOrThrow({
      where: { imageId_layerDigest: { imageId: image.id, layerDigest: approval.signature.layerDigest } },
    });
    expect(row).toMatchObject({ verdict: "verified", role: "stage", position: 2 });
    expect((row.annotations as Record<string, string>)[SIGNATURE_ANNOTATION]).toBe(stageLayer.annotations![SIGNATURE_ANNOTATION]);
    expect(await decision(image.id, "test"), "a keyless junk layer with the same digest made a valid approval deny").toMatchObject({ allowed: true });
  });

  it("put instead of the approval's layer, is not taken for it: Imprimatur's next write of the manifest restores the genuine layer", async () => {
    const { digest, approval, image } = await approvedImage("instead", "test");
    const manifest = await sigManifest(digest);
    const stageLayer = manifest.layers.find((l) => l.digest === approval.signature.layerDigest)!;
    await putSigManifest(
      digest,
      manifest,
      manifest.layers.map((l) => (l === stageLayer ? junkUnder(l, "junk") : l)),
    );
    await syncRegistry({ actor: admin, registry: "default" });
    expect((await decision(image.id, "test"))?.allowed, "the genuine layer is gone").toBe(false);

    // Another approval of the image writes the manifest: every recorded layer missing from it is merged back in.
    await requestAndApprove({ actor: await userActor("alice@example.com"), repository: REPO, digest, stage: "build", comment: "ok" });
    const after = await sigManifest(digest);
    const same = after.layers.filter((l) => l.digest === approval.signature.layerDigest).map((l) => l.annotations?.[SIGNATURE_ANNOTATION]);
    expect(same).toContain(stageLayer.annotations![SIGNATURE_ANNOTATION]);
    await syncRegistry({ actor: admin, registry: "default" });
    expect(await decision(image.id, "test")).toMatchObject({ allowed: true });
  });

  it("in front of a publisher's layer of the same digest, does not stop the publisher's signature from verifying", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `publisher ${Date.now()} ${Math.random()}` }] });
    await pushImage(client, REPO, img, ["publisher"]);
    const digest = img.digest as Digest;
    const publisher = generateP256();
    await createTrustIdentity({
      actor: admin,
      input: { name: "same-digest-publisher", kind: "key", role: "publisher", scope: ["same-digest-junk/**"], publicKeyPem: publisher.publicKeyPem },
    });
    const payload = buildSimpleSigningPayload({ dockerReference: `registry.example.com/${REPO}`, digest });
    await client.putBlob(REPO, payload);
    const layer: Descriptor = {
      mediaType: MT.cosignSimpleSigning,
      digest: sha256Digest(payload),
      size: payload.byteLength,
      annotations: { [SIGNATURE_ANNOTATION]: signP256(publisher.privateKeyPem, payload).toString("base64") },
    };
    const { manifest, config } = appendSignatureLayers({ existing: null, existingConfig: null, add: [junkUnder(layer, "junk"), layer] });
    await client.putBlob(REPO, config);
    await client.putManifest(REPO, cosignTag(digest, "sig"), manifest, MT.ociManifest);

    await syncRegistry({ actor: admin, registry: "default" });
    const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
    expect(await db.signature.findMany({ where: { imageId: image.id }, select: { layerDigest: true, verdict: true, role: true, position: true } })).toEqual([
      { layerDigest: layer.digest, verdict: "verified", role: "publisher", position: 1 },
    ]);
    expect(await db.signatureRun.findUniqueOrThrow({ where: { imageId: image.id } })).toMatchObject({ found: 2, tried: 2 });
  });
});

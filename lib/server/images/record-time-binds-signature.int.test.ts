// Imprimatur's record of an approval is a trusted time for the stage signature it made, because the approval row (with
// the payload and the signature) was committed before the layer was pushed. It vouches for those signature bytes, not
// for any signature over the same payload: the payload and its layer digest are public in the registry, and anyone
// holding a key can sign them again at any time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { generateP256, signP256 } from "../../signing/keys/software";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "record-time-test" };
const REPO = "record-time/app";
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

describe("Imprimatur's record of an approval as a signature's trusted time", () => {
  it("dates only the signature Imprimatur made: a revoked publisher key re-signing the approval's payload gets no time from before its revocation", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `record-time ${Date.now()} ${Math.random()}` }] });
    await pushImage(client, REPO, img, ["1"]);
    await syncRegistry({ actor: admin, registry: "default" });
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: REPO,
      digest: img.digest as Digest,
      stage: "test",
      comment: "ok",
    });
    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: REPO } } });
    // The stage signature Imprimatur made is dated by its record.
    expect(await db.signature.findFirst({ where: { imageId: image.id, layerDigest: approval.signature.layerDigest } })).toMatchObject({
      role: "stage",
      verdict: "verified",
      timeBy: `Imprimatur's record of approval ${approval.id}`,
    });

    // A publisher key, trusted, then found compromised and revoked from now (after the approval was made).
    const leaked = generateP256();
    await createTrustIdentity({
      actor: admin,
      input: { name: "publisher-leaked", kind: "key", role: "publisher", scope: ["record-time/**"], publicKeyPem: leaked.publicKeyPem },
    });
    await new Promise((r) => setTimeout(r, 20));
    await updateTrustIdentity({ actor: admin, name: "publisher-leaked", input: { revokedAt: new Date() } });

    // Whoever holds the leaked key signs the approval's payload (public: the stage layer's blob) and puts that
    // signature in front of the stage layer of the `.sig` manifest, under the same layer digest.
    const m = await client.getManifest(REPO, cosignTag(img.digest as Digest, "sig"));
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind !== "manifest") throw new Error("expected a manifest");
    const stageLayer = parsed.manifest.layers.find((l) => l.digest === approval.signature.layerDigest)!;
    const payload = await client.getBlob(REPO, stageLayer.digest as Digest);
    const forged = { ...stageLayer, annotations: { [SIGNATURE_ANNOTATION]: signP256(leaked.privateKeyPem, payload).toString("base64") } };
    const manifest = { ...parsed.manifest, layers: [forged, ...parsed.manifest.layers] };
    await client.putManifest(REPO, cosignTag(img.digest as Digest, "sig"), Buffer.from(JSON.stringify(manifest)), MT.ociManifest);

    await syncRegistry({ actor: admin, registry: "default" });
    const rows = await db.signature.findMany({ where: { imageId: image.id }, select: { role: true, verdict: true, detail: true, timeBy: true } });
    expect(
      rows.filter((r) => r.role === "publisher" && r.verdict === "verified"),
      "a signature by a revoked key, made after its revocation, verified on the approval's record time",
    ).toEqual([]);
  });
});

// A trust identity's validity can end, or its revocation take effect, at a time set in advance (a planned key rotation,
// a certificate's end). A signature without a trusted time is judged "now" when it is verified; the stored verdict
// must not outlive that time just because neither the registry nor the trust configuration changed since.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { generateP256, signP256 } from "../../signing/keys/software";
import { CHECKS } from "../../signing/verification";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "trust-ends-test" };
const REPO = "trust-ends/app";
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

describe("a trust identity whose validity ends at a set time", () => {
  it("no longer vouches for a signature without a trusted time once that time has passed, at the next sync", async () => {
    const key = generateP256();
    // Set well ahead, so that the first sync's verdict cannot race it on a busy machine.
    const until = new Date(Date.now() + 3_600_000);
    await createTrustIdentity({
      actor: admin,
      input: { name: "publisher-until", kind: "key", role: "publisher", scope: ["trust-ends/**"], publicKeyPem: key.publicKeyPem, validUntil: until },
    });
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `trust-ends ${Date.now()} ${Math.random()}` }] });
    await pushImage(client, REPO, img, ["1"]);
    const payload = buildSimpleSigningPayload({ dockerReference: `localhost/${REPO}`, digest: img.digest, optional: {} });
    await client.putBlob(REPO, payload);
    const layer = {
      mediaType: MT.cosignSimpleSigning,
      size: payload.byteLength,
      digest: sha256Digest(payload),
      annotations: { [SIGNATURE_ANNOTATION]: signP256(key.privateKeyPem, payload).toString("base64") },
    };
    const sig = appendSignatureLayers({ existing: null, existingConfig: null, add: [layer] });
    await client.putBlob(REPO, sig.config);
    await client.putManifest(REPO, cosignTag(img.digest as Digest, "sig"), sig.manifest, MT.ociManifest);

    await syncRegistry({ actor: admin, registry: "default" });
    const row = () => db.signature.findFirstOrThrow({ where: { layerDigest: layer.digest, image: { digest: img.digest } } });
    expect(await row()).toMatchObject({ verdict: "verified", role: "publisher" });

    // Time passes until the validity set in advance ends: the row is not edited again (its updated_at stays), only the
    // end it was given then is now behind us.
    await db.$executeRaw`UPDATE trust_identities SET valid_until = clock_timestamp() WHERE name = 'publisher-until'`;
    await new Promise((r) => setTimeout(r, 200));
    await syncRegistry({ actor: admin, registry: "default" });
    const after = await row();
    expect(after.verdict, "a verdict made before the identity's validity ended is still served after it").toBe("unverified");
    expect(after.detail).toContain(`${CHECKS.expiry} failed`);
  });
});

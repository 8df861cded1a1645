// Imprimatur's own stage layer is judged at its approval's trusted time as Imprimatur stored it. The RFC 3161
// annotation beside the layer is not bound by the layer digest: anyone with push access (no key) can ask a trusted
// TSA for a fresh token over the public signature bytes and put it there. Judged at that token's time, a signature
// made before a routine rotation of the stage key (the old key valid until the rotation) would stop verifying, and
// verify and ImageReview would deny a valid approval.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { startTsa, type TsaHandle } from "../../../scripts/lib/tsa.mjs";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { RFC3161_ANNOTATION } from "../../signing/formats/cosign-cert";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { buildTimestampRequest } from "../../signing/trust/rfc3161";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { rotateStageKey } from "../keys/rotate-signing-key";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { syncRegistry } from "./sync-registry";

const system: Actor = { kind: "system", label: "layer-token-test" };
const REPO = "layer-token/app";
let client: RegistryClient;
let tsa: TsaHandle;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  tsa = await startTsa({});
  process.env.IMPRIMATUR_TSA_URL = tsa.url;
  resetEnvCache();
  await seedUsers();
  await seedStages(["build", "test"]);
  await createTrustIdentity({ actor: system, input: { name: "layer-token-tsa", kind: "tsa", role: "stage", certificates: tsa.chainPem } });
});

afterAll(async () => {
  delete process.env.IMPRIMATUR_TSA_URL;
  resetEnvCache();
  await tsa.destroy();
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

describe("a fresh TSA token put on Imprimatur's own stage layer", () => {
  it("does not move the signature's time: an approval signed before a key rotation keeps verifying", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `layer-token ${Date.now()} ${Math.random()}` }] });
    await pushImage(client, REPO, img, ["1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const digest = img.digest as Digest;
    const approval = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: REPO, digest, stage: "test", comment: "ok" });
    const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
    const stored = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(stored.trustedBy).toBe("tsa");
    expect((await decision(image.id, "test"))?.allowed).toBe(true);

    // Routine rotation: the old key's signatures made while it was current keep verifying.
    await rotateStageKey({ actor: await userActor("admin@example.com"), stage: "test" });
    await new Promise((r) => setTimeout(r, 1500));
    await syncRegistry({ actor: system, registry: "default" });
    expect((await decision(image.id, "test"))?.allowed, "still valid after the rotation").toBe(true);

    // Push access, no key: a genuine token, now, over the public signature bytes, on Imprimatur's own layer.
    const tag = cosignTag(digest, "sig");
    const m = await client.getManifest(REPO, tag);
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind !== "manifest") throw new Error("expected a manifest");
    const ours = parsed.manifest.layers.find((l) => l.digest === approval.signature.layerDigest)!;
    const { request } = buildTimestampRequest(Buffer.from(ours.annotations![SIGNATURE_ANNOTATION]!, "base64"));
    const res = await fetch(tsa.url, { method: "POST", headers: { "content-type": "application/timestamp-query" }, body: new Uint8Array(request) });
    const fresh = JSON.stringify({ SignedRFC3161Timestamp: Buffer.from(await res.arrayBuffer()).toString("base64") });
    const layers = parsed.manifest.layers.map((l) => (l === ours ? { ...l, annotations: { ...l.annotations, [RFC3161_ANNOTATION]: fresh } } : l));
    await client.putManifest(REPO, tag, Buffer.from(JSON.stringify({ ...parsed.manifest, layers })), MT.ociManifest);

    await syncRegistry({ actor: system, registry: "default" });
    const row = await db.signature.findUniqueOrThrow({ where: { imageId_layerDigest: { imageId: image.id, layerDigest: approval.signature.layerDigest } } });
    expect((row.annotations as Record<string, string>)[RFC3161_ANNOTATION]).toBe(fresh);
    expect(row).toMatchObject({ verdict: "verified", timeKind: "trusted", timeAt: stored.trustedAt });
    expect(row.timeBy).toContain(`as Imprimatur recorded it for approval ${approval.id}`);
    expect(await decision(image.id, "test"), "a fresh token on Imprimatur's own layer un-verified a valid approval").toMatchObject({ allowed: true });
  });
});

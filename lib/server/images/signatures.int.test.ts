import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage, pushOciLayout } from "../../../scripts/lib/oci-build";
import { FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest, type Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { generateP256, signP256 } from "../../signing/keys/software";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { CHECKS } from "../../signing/verification";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { createRegistry } from "../registries/create-registry";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";
import { getImage } from "./get-image";
import { listImages, parseListImagesQuery } from "./list-images";
import { refreshSignatures } from "./refresh-signatures";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "signatures-test" };
const PUBLISHER_DIGEST = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904" as Digest;
const REPO = "publisher/base";
let reg: RegistryHandle;
let client: RegistryClient;
const ci = generateP256();

const img = (label: string) => buildImage({ architecture: "amd64", layers: [{ "label.txt": label }] });

async function sigRows(digest: string) {
  const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
  return db.signature.findMany({ where: { imageId: image.id }, orderBy: { position: "asc" } });
}

/** A cosign signature layer over `digest` by the CI key, with its payload blob pushed. */
async function goodLayer(digest: Digest, note = "ci"): Promise<Descriptor> {
  const payload = buildSimpleSigningPayload({ dockerReference: `localhost/${REPO}`, digest, optional: { note } });
  await client.putBlob(REPO, payload);
  return {
    mediaType: MT.cosignSimpleSigning,
    size: payload.byteLength,
    digest: sha256Digest(payload),
    annotations: { [SIGNATURE_ANNOTATION]: signP256(ci.privateKeyPem, payload).toString("base64") },
  };
}

async function rawLayer(bytes: Buffer, annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: "AAAA" }): Promise<Descriptor> {
  await client.putBlob(REPO, bytes);
  return { mediaType: MT.cosignSimpleSigning, size: bytes.byteLength, digest: sha256Digest(bytes), annotations };
}

async function putSig(digest: Digest, layers: Descriptor[]) {
  const { manifest, config } = appendSignatureLayers({ existing: null, existingConfig: null, add: layers });
  await client.putBlob(REPO, config);
  await client.putManifest(REPO, cosignTag(digest, "sig"), manifest, MT.ociManifest);
}

async function refresh(digest: Digest) {
  await syncRegistry({ actor: admin, registry: "sig" });
  const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
  return refreshSignatures({ client, imageId: image.id, repository: REPO, digest });
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  reg = await startRegistry({});
  client = new RegistryClient({ url: reg.url });
  await createRegistry({ actor: admin, input: { name: "sig", url: reg.url } });
  await pushOciLayout(client, REPO, join(FIXTURE, "oci-layout"));
  await createTrustIdentity({ actor: admin, input: { name: "ci", kind: "key", role: "team", scope: ["publisher/*"], publicKeyPem: ci.publicKeyPem } });
  // Re-adding the same key under the same name is a no-op; with another scope it is a conflict, not a silent drop.
  expect(
    (await createTrustIdentity({ actor: admin, input: { name: "ci", kind: "key", role: "team", scope: ["publisher/*"], publicKeyPem: ci.publicKeyPem } }))
      .created,
  ).toBe(false);
  await expect(
    createTrustIdentity({ actor: admin, input: { name: "ci", kind: "key", role: "team", scope: ["**"], publicKeyPem: ci.publicKeyPem } }),
  ).rejects.toMatchObject({ code: "CONFLICT" });
});

afterAll(async () => {
  await stopBoss();
  await reg.destroy();
  await disconnectDb();
});

describe("the upstream cosign fixture", () => {
  it('is "not verified" until the publisher identity is trusted, then verifies with every check listed', async () => {
    await syncRegistry({ actor: admin, registry: "sig" });
    const [before] = await sigRows(PUBLISHER_DIGEST);
    expect(before!.verdict).toBe("unverified");
    expect(before!.detail).toMatch(/^not verified: signature is valid failed/);
    expect(before!.keyName).toBeNull();

    await createTrustIdentity({
      actor: admin,
      input: { name: "publisher", kind: "key", role: "publisher", scope: ["publisher/*"], publicKeyPem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8") },
    });
    // A trust change makes the stored verdicts stale: the next sync re-verifies without any registry change.
    await syncRegistry({ actor: admin, registry: "sig" });
    const [after] = await sigRows(PUBLISHER_DIGEST);
    expect(after!.verdict).toBe("verified");
    expect(after!.detail).toContain('trusted key "publisher"');
    expect(after!.keyName).toBe("publisher");
    expect(after!.role).toBe("publisher");
    expect(after!.format).toBe("cosign");
    const checks = after!.checks as { check: string; passed: boolean | null }[];
    expect(checks.map((c) => c.check)).toEqual([
      CHECKS.payloadDigest,
      "payload type",
      CHECKS.namesDigest,
      CHECKS.signature,
      CHECKS.chain,
      CHECKS.identity,
      CHECKS.expiry,
      CHECKS.revocation,
    ]);
    expect(checks.filter((c) => c.passed === false)).toEqual([]);
    expect(checks.find((c) => c.check === CHECKS.chain)!.passed).toBeNull();
    // containers/image wrote optional.timestamp: the signer's own claim, not a trusted time.
    expect(after!.timeKind).toBe("claimed");
    expect((after!.signer as { kind: string; fingerprint: string }).fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("is not verified, naming the identity check, when the identity's scope does not cover the repository", async () => {
    await updateTrustIdentity({ actor: admin, name: "publisher", input: { scope: ["library/*"] } });
    await syncRegistry({ actor: admin, registry: "sig" });
    const [row] = await sigRows(PUBLISHER_DIGEST);
    expect(row!.verdict).toBe("unverified");
    expect(row!.detail).toContain(`${CHECKS.identity} failed`);
    expect(row!.detail).toContain('"library/*"');
    await updateTrustIdentity({ actor: admin, name: "publisher", input: { scope: ["publisher/*"] } });
    await syncRegistry({ actor: admin, registry: "sig" });
    expect((await sigRows(PUBLISHER_DIGEST))[0]!.verdict).toBe("verified");
  });

  it("is invalid when the same signature is copied onto another digest", async () => {
    const other = img("copy-target");
    await pushImage(client, REPO, other, ["copy-target"]);
    const sig = await client.getManifest(REPO, cosignTag(PUBLISHER_DIGEST, "sig"));
    await client.putManifest(REPO, cosignTag(other.digest, "sig"), sig.bytes, sig.mediaType);
    await syncRegistry({ actor: admin, registry: "sig" });
    const [row] = await sigRows(other.digest);
    expect(row!.verdict).toBe("invalid");
    expect(row!.detail).toContain(`${CHECKS.namesDigest} failed`);
    expect(row!.detail).toContain(PUBLISHER_DIGEST);
  });
});

describe("hostile .sig manifests", () => {
  it("verifies the good layer next to a garbage one and one whose bytes don't match its digest", async () => {
    const target = img("garbage-and-good");
    await pushImage(client, REPO, target, ["garbage-and-good"]);
    const garbage = await rawLayer(randomBytes(300));
    const liar = { ...(await rawLayer(Buffer.from("{}"))), digest: sha256Digest(Buffer.from("not these bytes")) };
    await client.putBlob(REPO, Buffer.from("not these bytes"));
    const good = await goodLayer(target.digest);
    await putSig(target.digest, [garbage, liar, good]);
    await syncRegistry({ actor: admin, registry: "sig" });
    const rows = await sigRows(target.digest);
    expect(rows.map((r) => r.verdict)).toEqual(["invalid", "invalid", "verified"]);
    expect(rows[0]!.detail).toMatch(/payload/);
    expect(rows[2]!.keyName).toBe("ci");
    expect(rows[2]!.role).toBe("team");
  });

  it("does not read a signature layer over 1 MiB and says so", async () => {
    const target = img("huge-layer");
    await pushImage(client, REPO, target, ["huge-layer"]);
    const huge = await rawLayer(randomBytes(1024 * 1024 + 1));
    const good = await goodLayer(target.digest);
    await putSig(target.digest, [huge, good]);
    const r = await refresh(target.digest);
    expect(r.verified).toBe(1);
    const rows = await sigRows(target.digest);
    expect(rows[0]!.verdict).toBe("invalid");
    expect(rows[0]!.detail).toContain("over the 1048576-byte limit for a signature; it was not read");
    expect(rows[0]!.payload).toBeNull();
    expect(rows[1]!.verdict).toBe("verified");
  });

  it("verifies up to the cap on 1,000 signature layers and records how many were not tried", async () => {
    const target = img("a-thousand-layers");
    await pushImage(client, REPO, target, ["a-thousand-layers"]);
    const layers: Descriptor[] = [];
    for (let i = 0; i < 1000; i += 50) {
      layers.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => rawLayer(Buffer.from(`junk ${i + j}`))))));
    }
    // The only good signature is the last one: junk crowds it out of the budget, which the count makes visible.
    layers[999] = await goodLayer(target.digest, "last");
    await putSig(target.digest, layers);
    const r = await refresh(target.digest);
    expect(r).toMatchObject({ found: 1000, total: 100, notTried: 900, verified: 0 });
    const image = await db.image.findFirstOrThrow({ where: { digest: target.digest } });
    const run = await db.signatureRun.findUniqueOrThrow({ where: { imageId: image.id } });
    expect(run).toMatchObject({ found: 1000, tried: 100, notTried: 900, cap: 100, detail: "900 more signatures were not tried (cap 100)" });
    expect(await db.signature.count({ where: { imageId: image.id } })).toBe(100);
    const sig = parseManifest((await client.getManifest(REPO, cosignTag(target.digest, "sig"))).bytes);
    expect(sig.kind === "manifest" && sig.manifest.layers.length).toBe(1000);
    // 1,000 blob uploads before anything is judged: minutes on a loaded 2-core host, so more than the default 60 s.
  }, 240_000);
});

describe("the chain", () => {
  it("finds the base image through the OCI base annotations, shows its verified publisher signature, and lists the chain compactly", async () => {
    const child = buildImage({
      architecture: "amd64",
      layers: [{ "app.txt": "built on the publisher's base" }],
      annotations: { "org.opencontainers.image.base.name": `${new URL(reg.url).host}/${REPO}:1.0`, "org.opencontainers.image.base.digest": PUBLISHER_DIGEST },
    });
    await pushImage(client, "apps/child", child, ["1.0"]);
    // A team signature on the child itself, by the CI key (trusted for publisher/* only, so widen it first).
    await updateTrustIdentity({ actor: admin, name: "ci", input: { scope: ["publisher/*", "apps/*"] } });
    const payload = buildSimpleSigningPayload({ dockerReference: "localhost/apps/child", digest: child.digest });
    await client.putBlob("apps/child", payload);
    const layer: Descriptor = {
      mediaType: MT.cosignSimpleSigning,
      size: payload.byteLength,
      digest: sha256Digest(payload),
      annotations: { [SIGNATURE_ANNOTATION]: signP256(ci.privateKeyPem, payload).toString("base64") },
    };
    const { manifest, config } = appendSignatureLayers({ existing: null, existingConfig: null, add: [layer] });
    await client.putBlob("apps/child", config);
    await client.putManifest("apps/child", cosignTag(child.digest, "sig"), manifest, MT.ociManifest);
    await syncRegistry({ actor: admin, registry: "sig" });

    const page = await getImage({ actor: admin, registry: "sig", repository: "apps/child", digest: child.digest });
    expect(page.base).toMatchObject({ digest: PUBLISHER_DIGEST, inInventory: true, repository: REPO });
    expect(page.base!.signatures[0]).toMatchObject({ verdict: "verified", role: "publisher" });
    expect(page.base!.signatures[0]!.checks.map((c) => c.check)).toContain(CHECKS.revocation);
    expect(page.signatures.map((s) => [s.role, s.verdict])).toEqual([["team", "verified"]]);

    const list = await listImages({ actor: admin, query: parseListImagesQuery({ registry: "sig", repository: "apps/child" }) });
    expect(list.items[0]!.chain.map((c) => `${c.label} ${c.mark}`).join(" · ")).toBe("publisher ✓ · team ✓ · build – · test – · prod –");
  });
});

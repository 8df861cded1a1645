import { bundleToJSON, toDSSEBundle } from "@sigstore/bundle";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { preAuthEncoding } from "../../evidence/dsse";
import { RegistryClient } from "../../oci/client";
import { MT } from "../../oci/media-types";
import { pushReferrer } from "../../oci/push-referrer";
import { generateP256, parsePublicKey, signP256 } from "../../signing/keys/software";
import { COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE, IN_TOTO_STATEMENT_V1 } from "../../signing/formats/sigstore-write";
import { CHECKS } from "../../signing/verification";
import type { Actor } from "../actor";
import { stopBoss } from "../jobs/boss";
import { createRegistry } from "../registries/create-registry";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "attestation-bundles-test" };
const REPO = "attest/app";
let reg: RegistryHandle;
let client: RegistryClient;
// The team's CI key: it signs releases, and it also attests every build it runs (provenance, SBOM).
const ci = generateP256();
const hint = parsePublicKey(ci.publicKeyPem).fingerprint;

/** A Sigstore bundle v0.3 as cosign v3 / GitHub's attest actions push it: a DSSE in-toto statement about `digest`. */
async function pushBundle(digest: string, size: number, predicateType: string, predicate: Record<string, unknown>, annotatedAs = predicateType) {
  const statement = { _type: IN_TOTO_STATEMENT_V1, subject: [{ name: `localhost/${REPO}`, digest: { sha256: digest.slice(7) } }], predicateType, predicate };
  const payload = Buffer.from(JSON.stringify(statement));
  const signature = signP256(ci.privateKeyPem, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  const bundle = toDSSEBundle({ artifact: payload, artifactType: IN_TOTO_PAYLOAD_TYPE, signature, keyHint: hint });
  return pushReferrer({
    client,
    repository: REPO,
    subject: { mediaType: MT.ociManifest, digest, size },
    artifactType: MT.sigstoreBundleV03,
    blobBytes: Buffer.from(JSON.stringify(bundleToJSON(bundle))),
    blobMediaType: MT.sigstoreBundleV03,
    annotations: { "dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": annotatedAs },
  });
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  reg = await startRegistry({});
  client = new RegistryClient({ url: reg.url });
  await createRegistry({ actor: admin, input: { name: "attest", url: reg.url } });
  await createTrustIdentity({ actor: admin, input: { name: "team-ci", kind: "key", role: "team", scope: ["attest/*"], publicKeyPem: ci.publicKeyPem } });
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
  await reg?.stop();
});

describe("Sigstore bundles attached to an image", () => {
  it("an attestation signed by a trusted team key is not that team's signature; a cosign sign statement by the same key is", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `attested ${Date.now()}` }] });
    await pushImage(client, REPO, img, ["1.0"]);
    const provenance = await pushBundle(img.digest, img.manifest.byteLength, "https://slsa.dev/provenance/v1", {
      buildDefinition: { buildType: "https://example.com/ci@v1", externalParameters: {} },
      runDetails: { builder: { id: "https://ci.example/builder" } },
    });
    await syncRegistry({ actor: admin, registry: "attest" });

    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: REPO } } });
    // Every build the CI runs carries one; it says how the image was built, not that the team approves these bytes.
    // It is read as evidence (its signer judged by evidence trust), and it is not in the signature chain.
    expect(await db.artifact.count({ where: { imageId: image.id, digest: provenance.descriptor.digest, kind: "sigstore-bundle" } })).toBe(1);
    expect(await db.evidenceDocument.count({ where: { imageId: image.id, kind: "provenance" } })).toBe(1);
    expect(await db.signature.count({ where: { imageId: image.id } })).toBe(0);

    // The manifest's annotation is the pusher's word: one that calls a provenance statement a signature gets it
    // verified as one, and the statement itself says otherwise.
    const disguised = await pushBundle(
      img.digest,
      img.manifest.byteLength,
      "https://slsa.dev/provenance/v1",
      { buildDefinition: { buildType: "https://example.com/ci@v1", externalParameters: { ref: "refs/pull/7" } } },
      COSIGN_SIGN_PREDICATE_TYPE,
    );
    await syncRegistry({ actor: admin, registry: "attest" });
    const attestation = await db.signature.findFirstOrThrow({ where: { imageId: image.id, artifactDigest: disguised.descriptor.digest } });
    expect(attestation.verdict).toBe("unverified");
    const failed = (attestation.checks as { check: string; passed: boolean | null; detail: string }[]).find((c) => c.passed === false);
    expect(failed).toMatchObject({ check: CHECKS.namesDigest, detail: expect.stringContaining("is an attestation about") });
    expect(await db.signature.count({ where: { imageId: image.id, verdict: "verified" } })).toBe(0);

    const signed = await pushBundle(img.digest, img.manifest.byteLength, COSIGN_SIGN_PREDICATE_TYPE, {});
    await syncRegistry({ actor: admin, registry: "attest" });
    const signature = await db.signature.findFirstOrThrow({ where: { imageId: image.id, artifactDigest: signed.descriptor.digest } });
    expect(signature).toMatchObject({ verdict: "verified", role: "team", format: "sigstore-bundle" });
    expect(await db.signature.count({ where: { imageId: image.id, verdict: "verified" } })).toBe(1);
  });
});

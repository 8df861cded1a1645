import { createPrivateKey, sign, webcrypto } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION } from "../../signing/formats/cosign-cert";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { buildSimpleSigningPayload, SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { DAY, makeCert, x509, type TestCert } from "../../signing/testing/certs";
import { CHECKS } from "../../signing/verification";
import { EKU } from "../../signing/trust/x509";
import type { Actor } from "../actor";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";
import { syncRegistry } from "./sync-registry";

// A certificate-signed cosign layer (as `cosign sign` with a Fulcio-style certificate writes it) on a real registry,
// judged against a certificate-root trust identity matched on SAN + OIDC issuer.
const system: Actor = { kind: "system", label: "cert-signatures-test" };
const REPO = "certs/app";
let client: RegistryClient;
let digest: Digest;
let root: TestCert;

const utf8String = (s: string) => new Uint8Array([0x0c, Buffer.byteLength(s), ...Buffer.from(s)]);

async function rows() {
  const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
  return db.signature.findMany({ where: { imageId: image.id } });
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const now = Date.now();
  root = await makeCert({ name: "CN=Corp Signing Root, O=Example", ca: true, notBefore: new Date(now - 30 * DAY), notAfter: new Date(now + 365 * DAY) });
  const inter = await makeCert({
    name: "CN=Corp Signing CA, O=Example",
    ca: true,
    issuer: root,
    notBefore: new Date(now - 30 * DAY),
    notAfter: new Date(now + 365 * DAY),
  });
  const leaf = await makeCert({
    name: "",
    issuer: inter,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + DAY),
    eku: [EKU.codeSigning],
    extensions: [
      new x509.SubjectAlternativeNameExtension([{ type: "email", value: "ci@example.com" }], true),
      new x509.Extension("1.3.6.1.4.1.57264.1.8", false, utf8String("https://token.actions.example.com")),
    ],
  });
  const img = buildImage({ architecture: "amd64", layers: [{ "cert.txt": `signed by certificate ${now}` }] });
  digest = await pushImage(client, REPO, img, ["1"]);
  const payload = buildSimpleSigningPayload({ dockerReference: `localhost/${REPO}`, digest });
  const key = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", leaf.keys.privateKey)), format: "der", type: "pkcs8" });
  await client.putBlob(REPO, payload);
  const { manifest, config } = appendSignatureLayers({
    existing: null,
    existingConfig: null,
    add: [
      {
        mediaType: MT.cosignSimpleSigning,
        size: payload.byteLength,
        digest: sha256Digest(payload),
        annotations: {
          [SIGNATURE_ANNOTATION]: sign("sha256", payload, { key, dsaEncoding: "der" }).toString("base64"),
          [CERTIFICATE_ANNOTATION]: leaf.pem,
          [CHAIN_ANNOTATION]: inter.pem + root.pem,
        },
      },
    ],
  });
  await client.putBlob(REPO, config);
  await client.putManifest(REPO, cosignTag(digest, "sig"), manifest, MT.ociManifest);
});

afterAll(async () => {
  await disconnectDb();
});

describe("certificate-based cosign signatures in the registry", () => {
  it("are not verified until the root is trusted, naming the chain check", async () => {
    await syncRegistry({ actor: system });
    const [sig] = await rows();
    expect(sig!.verdict).toBe("unverified");
    const checks = sig!.checks as { check: string; passed: boolean | null }[];
    expect(checks.find((c) => c.passed === false)?.check).toBe(CHECKS.chain);
    expect(checks.find((c) => c.check === CHECKS.signature)?.passed).toBe(true);
  });

  it("verify through a certificate-root identity matched on SAN and OIDC issuer, and not for another SAN", async () => {
    await createTrustIdentity({
      actor: system,
      input: {
        name: "corp-ci",
        kind: "certificate",
        role: "team",
        scope: ["certs/**"],
        certificates: root.pem,
        san: "ci@example.com",
        oidcIssuer: "https://token.actions.example.com",
      },
    });
    await syncRegistry({ actor: system });
    const [ok] = await rows();
    expect(ok).toMatchObject({ verdict: "verified", trustedBy: "corp-ci", role: "team" });
    expect(ok!.signer).toMatchObject({ kind: "certificate", leaf: { sans: ["ci@example.com"], oidcIssuer: "https://token.actions.example.com" } });

    await updateTrustIdentity({ actor: system, name: "corp-ci", input: { san: "release@example.com" } });
    await syncRegistry({ actor: system });
    const [other] = await rows();
    expect(other!.verdict).toBe("unverified");
    expect((other!.checks as { check: string; passed: boolean | null }[]).find((c) => c.passed === false)?.check).toBe(CHECKS.identity);

    // Field rules hold on update too: an OIDC issuer is matched only together with a SAN.
    await expect(updateTrustIdentity({ actor: system, name: "corp-ci", input: { san: null } })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "san" });
  });
});

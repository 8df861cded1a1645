import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import { createSoftHsmToken, type SoftHsmToken } from "../../signing/testing/softhsm";
import { parsePublicKey, verifyRaw } from "../../signing/keys/software";
import { CHECKS } from "../../signing/verification";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";
import { exportPublicKey, exportStageKeyHistory } from "./export-key-history";
import { importSigningKey } from "./import-signing-key";
import { findStageKey, signWithKey } from "./load-stage-signer";
import { rotateStageKey } from "./rotate-signing-key";

const admin: Actor = { kind: "system", label: "keys-test" };
let client: RegistryClient;
let n = 0;
let hsm: SoftHsmToken | undefined;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: admin, registry: "default" });
  return img.digest;
}

async function signatureOf(approvalId: string) {
  const a = await db.approval.findUniqueOrThrow({ where: { id: approvalId }, include: { signingKey: true } });
  const s = await db.signature.findUniqueOrThrow({ where: { imageId_layerDigest: { imageId: a.imageId, layerDigest: a.layerDigest } } });
  return { approval: a, signature: s };
}

async function errorOf(p: Promise<unknown>) {
  try {
    await p;
  } catch (e) {
    return e as { code?: string; message: string; field?: string };
  }
  throw new Error("expected a rejection");
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  hsm?.cleanup();
  await stopBoss();
  await disconnectDb();
});

describe("stage key import", () => {
  it("imports the fixture's encrypted cosign key with its password, and refuses a wrong password with a 4xx", async () => {
    const pem = readFileSync(join(FIXTURE, "publisher.key"), "utf8");
    const wrong = await errorOf(importSigningKey({ actor: admin, stage: "build", pem, password: "not-the-password" }));
    expect(wrong.code).toBe("INVALID_INPUT");
    expect(wrong.field).toBe("password");
    expect(await db.signingKey.count({ where: { imported: true } })).toBe(0);

    const { key, retired } = await importSigningKey({ actor: admin, stage: "build", pem, password: "publisher-demo", name: "build-imported" });
    expect(key.fingerprint).toBe(parsePublicKey(readFileSync(join(FIXTURE, "publisher.pub"), "utf8")).fingerprint);
    expect(retired.map((k) => k.name)).toEqual(["stage-build-key"]);
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    expect((await findStageKey(stage.id)).name).toBe("build-imported");
    // Sealed at rest: the private key is not in the row in the clear.
    const row = await db.signingKey.findUniqueOrThrow({ where: { name: "build-imported" }, omit: { encryptedPrivateKey: false } });
    expect(row.imported).toBe(true);
    expect(Buffer.from(row.encryptedPrivateKey!).toString("latin1")).not.toContain("PRIVATE KEY");
    expect(await db.auditEvent.count({ where: { action: "key.import" } })).toBe(1);

    // Either PEM label: the same file relabelled as cosign's older `ENCRYPTED COSIGN PRIVATE KEY` imports the same key.
    const relabelled = pem.replace(/ENCRYPTED SIGSTORE PRIVATE KEY/g, "ENCRYPTED COSIGN PRIVATE KEY");
    const dup = await errorOf(importSigningKey({ actor: admin, stage: "build", pem: relabelled, password: "publisher-demo" }));
    expect(dup.code).toBe("CONFLICT");
  });

  it("signs an approval with the imported key, audited as a key use", async () => {
    const digest = await newImage("keys-test/imported");
    const r = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: "keys-test/imported",
      digest,
      stage: "build",
      comment: "imported key",
    });
    const { approval, signature } = await signatureOf(r.id);
    expect(approval.signingKey.name).toBe("build-imported");
    expect(signature.verdict).toBe("verified");
    expect(signature.role).toBe("stage");
    const uses = await db.auditEvent.findMany({ where: { action: "key.use", targetDigest: null } });
    expect(uses.some((u) => (u.detail as { key?: string }).key === "build-imported")).toBe(true);
  });
});

describe("rotation", () => {
  it("keeps an old approval's signature verifying after a rotation, and signs new approvals with the new key", async () => {
    const alice = await userActor("alice@example.com");
    const first = await newImage("keys-test/rotate");
    const before = await requestAndApprove({ actor: alice, repository: "keys-test/rotate", digest: first, stage: "test", comment: "before rotation" });
    const oldKey = (await signatureOf(before.id)).approval.signingKey;

    const { key: newKey, retired } = await rotateStageKey({ actor: admin, stage: "test", name: "stage-test-key-2" });
    expect(retired.map((k) => k.id)).toEqual([oldKey.id]);
    const old = await db.signingKey.findUniqueOrThrow({ where: { id: oldKey.id } });
    expect(old.retiredAt).not.toBeNull();
    expect(old.notAfter).not.toBeNull();

    // The trust change re-verifies everything: the old signature is judged at Imprimatur's record of its approval.
    await syncRegistry({ actor: admin, registry: "default" });
    const oldSig = (await signatureOf(before.id)).signature;
    expect(oldSig.verdict).toBe("verified");
    expect(oldSig.timeKind).toBe("trusted");
    expect(oldSig.keyName).toBe("stage:test (stage-test-key)");
    expect((oldSig.checks as { check: string; passed: boolean | null; detail: string }[]).find((c) => c.check === CHECKS.expiry)!.detail).toContain(
      "trusted time",
    );

    const second = await newImage("keys-test/rotate");
    const after = await requestAndApprove({ actor: alice, repository: "keys-test/rotate", digest: second, stage: "test", comment: "after rotation" });
    const { approval, signature } = await signatureOf(after.id);
    expect(approval.signingKeyId).toBe(newKey.id);
    expect(signature.verdict).toBe("verified");
    expect(signature.keyName).toBe("stage:test (stage-test-key-2)");

    const history = await exportStageKeyHistory({ actor: admin, stage: "test", format: "json" });
    expect(history.format === "json" && history.keys.map((k) => [k.name, k.status])).toEqual([
      ["stage-test-key", "retired"],
      ["stage-test-key-2", "valid"],
    ]);
    const pem = await exportStageKeyHistory({ actor: admin, stage: "test", format: "pem" });
    expect(pem.format === "pem" && pem.pem.match(/-----BEGIN PUBLIC KEY-----/g)).toHaveLength(2);
    const pub = await exportPublicKey({ actor: admin, name: "stage-test-key-2" });
    expect(parsePublicKey(pub.pem).fingerprint).toBe(newKey.fingerprint);
  });
});

describe("PKCS#11 backend", () => {
  it("generates the stage key inside a SoftHSM2 token and signs an approval through it; the signature verifies", async () => {
    hsm = createSoftHsmToken();
    process.env.PKCS11_MODULE = hsm.module;
    process.env.PKCS11_TOKEN_LABEL = hsm.label;
    process.env.PKCS11_PIN = hsm.pin;
    resetEnvCache();
    const { key } = await rotateStageKey({ actor: admin, stage: "prod", name: "stage-prod-hsm", backend: "pkcs11" });
    const row = await db.signingKey.findUniqueOrThrow({ where: { id: key.id }, omit: { encryptedPrivateKey: false } });
    expect(row).toMatchObject({ backend: "pkcs11", encryptedPrivateKey: null, pkcs11TokenLabel: hsm.label });
    expect((await db.stage.findUniqueOrThrow({ where: { name: "prod" } })).keyBackend).toBe("pkcs11");

    const data = Buffer.from("signed inside the token");
    const sig = await signWithKey(key.id, data, { purpose: "test" });
    expect(verifyRaw(parsePublicKey(row.publicKeyPem), data, sig)).toBe(true);

    const digest = await newImage("keys-test/hsm");
    const r = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: "keys-test/hsm", digest, stage: "prod", comment: "hsm" });
    const { approval, signature } = await signatureOf(r.id);
    expect(approval.signingKeyId).toBe(key.id);
    expect(signature.verdict).toBe("verified");
    expect(signature.keyName).toBe("stage:prod (stage-prod-hsm)");
    const use = await db.auditEvent.findFirst({ where: { action: "key.use" }, orderBy: { seq: "desc" } });
    expect(use?.detail).toMatchObject({ key: "stage-prod-hsm", backend: "pkcs11" });
  });
});

describe("trust identity input", () => {
  const bad = async (input: Parameters<typeof createTrustIdentity>[0]["input"]) => errorOf(createTrustIdentity({ actor: admin, input }));

  it("refuses malformed PEM, unsupported curves, short RSA keys and a chain of 50 certificates with a reason", async () => {
    expect(
      await bad({ name: "m", kind: "key", role: "publisher", publicKeyPem: "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----" }),
    ).toMatchObject({ code: "INVALID_INPUT", field: "publicKeyPem" });
    const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect((await bad({ name: "k1", kind: "key", role: "publisher", publicKeyPem: k1 })).message).toMatch(/secp256k1/);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    expect((await bad({ name: "rsa", kind: "key", role: "publisher", publicKeyPem: rsa })).message).toMatch(/1024 bits/);

    const root = readFileSync(join(__dirname, "../../signing/testdata/sigstore-public-good-trusted-root.json"), "utf8");
    const raw = (JSON.parse(root) as { certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[] }).certificateAuthorities[1]!.certChain
      .certificates[0]!.rawBytes;
    const pem = new X509Certificate(Buffer.from(raw, "base64")).toString();
    const fifty = await bad({ name: "long", kind: "certificate", role: "team", certificates: pem.repeat(50) });
    expect(fifty).toMatchObject({ code: "INVALID_INPUT", field: "certificates" });
    expect(fifty.message).toContain("50 certificates");
    expect(await bad({ name: "cut", kind: "certificate", role: "team", certificates: pem.slice(0, 200) })).toMatchObject({ code: "INVALID_INPUT" });
    expect(await bad({ name: "sig", kind: "sigstore", role: "team", trustedRoot: "{}" })).toMatchObject({ code: "INVALID_INPUT", field: "trustedRoot" });
    expect(await bad({ name: "bad scope", kind: "key", role: "publisher", publicKeyPem: k1 })).toMatchObject({ code: "INVALID_INPUT", field: "name" });

    const ok = await createTrustIdentity({
      actor: admin,
      input: {
        name: "fulcio",
        kind: "certificate",
        role: "team",
        scope: ["apps/**"],
        certificates: pem,
        san: "https://github.com/acme/*",
        oidcIssuer: "https://token.actions.githubusercontent.com",
      },
    });
    expect(ok.identity.certificates).toHaveLength(1);
    // An identity that names no signer would trust every certificate under its root: refused unless marked so.
    expect(await bad({ name: "public-good", kind: "sigstore", role: "team", trustedRoot: root })).toMatchObject({
      code: "INVALID_INPUT",
      field: "anyIdentityUnderRoot",
    });
    expect(await bad({ name: "public-good", kind: "sigstore", role: "team", trustedRoot: root, san: "alice@example.com" })).toMatchObject({
      code: "INVALID_INPUT",
      field: "anyIdentityUnderRoot",
    });
    expect(await bad({ name: "corp-root", kind: "certificate", role: "team", certificates: pem })).toMatchObject({
      code: "INVALID_INPUT",
      field: "anyIdentityUnderRoot",
    });
    expect(await bad({ name: "key-any", kind: "key", role: "team", publicKeyPem: k1, anyIdentityUnderRoot: true })).toMatchObject({
      code: "INVALID_INPUT",
      field: "anyIdentityUnderRoot",
    });
    expect(await db.trustIdentity.count({ where: { name: { in: ["public-good", "corp-root", "key-any"] } } })).toBe(0);
    const sg = await createTrustIdentity({
      actor: admin,
      input: {
        name: "public-good",
        kind: "sigstore",
        role: "team",
        trustedRoot: root,
        san: "https://github.com/acme/*",
        oidcIssuer: "https://token.actions.githubusercontent.com",
      },
    });
    expect(sg.identity.anyIdentityUnderRoot).toBe(false);
    // Dropping the SAN later is the same broadening, refused the same way; the explicit mark allows it.
    await expect(updateTrustIdentity({ actor: admin, name: "public-good", input: { san: null, oidcIssuer: null } })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "anyIdentityUnderRoot",
    });
    const broad = await updateTrustIdentity({ actor: admin, name: "public-good", input: { san: null, oidcIssuer: null, anyIdentityUnderRoot: true } });
    expect(broad).toMatchObject({ san: null, anyIdentityUnderRoot: true });
    expect(sg.identity.sigstore).toMatchObject({ mediaType: expect.stringContaining("trustedroot") });
    expect(await db.auditEvent.count({ where: { action: "trust.add" } })).toBe(2);
  });
});

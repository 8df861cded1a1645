import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSimpleSigningPayload } from "../formats/simple-signing";
import { createSoftHsmToken, type SoftHsmToken } from "../testing/softhsm";
import { HsmError, openToken, type Pkcs11Token } from "./pkcs11";
import { pkcs11Signer, softwareSigner, type Signer } from "./signer";
import { generateP256, KeyFormatError, parsePublicKey, verifyRaw } from "./software";

const payload = buildSimpleSigningPayload({ dockerReference: "registry.example.com/acme/app", digest: `sha256:${"ab".repeat(32)}` });

/** What every backend must do: a DER signature its public key verifies, and a key reference naming that key. */
async function expectSignsAs(signer: Signer, publicKeyPem: string) {
  const pub = parsePublicKey(publicKeyPem);
  const r = await signer.sign(payload);
  expect(r.keyRef).toEqual(signer.keyRef);
  expect(r.keyRef.fingerprint).toBe(pub.fingerprint);
  expect(r.signature[0]).toBe(0x30); // ASN.1 SEQUENCE: DER, as cosign writes it
  expect(verifyRaw(pub, payload, r.signature)).toBe(true);
  expect(verifyRaw(pub, Buffer.concat([payload, Buffer.from(" ")]), r.signature)).toBe(false);
}

describe("softwareSigner", () => {
  it("signs with the unsealed P-256 key and names it by its public key's fingerprint", async () => {
    const k = generateP256();
    const signer = softwareSigner(k.privateKeyPem);
    expect(signer.keyRef).toEqual({ backend: "software", fingerprint: k.fingerprint, keyId: null });
    await expectSignsAs(signer, k.publicKeyPem);
  });

  it("refuses a key that is not ECDSA P-256", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    expect(() => softwareSigner(rsa)).toThrow(KeyFormatError);
  });
});

describe("pkcs11Signer (SoftHSM)", () => {
  let hsm: SoftHsmToken;
  let token: Pkcs11Token;
  beforeAll(() => {
    hsm = createSoftHsmToken({ label: "signer-test" });
    token = openToken({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
  });
  afterAll(() => {
    token?.close();
    hsm?.cleanup();
  });

  it("signs inside the token, the same way as the software signer, and names the key by fingerprint and CKA_ID", async () => {
    const info = token.generateEcKey({ label: "stage-key" });
    const signer = pkcs11Signer(token, info.keyId);
    expect(signer.keyRef).toEqual({ backend: "pkcs11", fingerprint: info.fingerprint, keyId: info.keyId });
    await expectSignsAs(signer, info.publicKeyPem);
  });

  it("refuses a key id the token does not hold, as KEY_NOT_FOUND", () => {
    try {
      pkcs11Signer(token, "00ff00ff");
      expect.unreachable("no signer for a missing key");
    } catch (e) {
      expect(e).toBeInstanceOf(HsmError);
      expect((e as HsmError).reason).toBe("KEY_NOT_FOUND");
    }
  });
});

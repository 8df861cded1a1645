import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CosignKeyError, exportCosignPrivateKey, importCosignPrivateKey } from "./cosign-key";
import { generateP256, parsePublicKey, signP256, verifyRaw } from "./software";

const fx = join(__dirname, "../../../scripts/fixtures/upstream-cosign");
const publisherKey = readFileSync(join(fx, "publisher.key"), "utf8");
const publisherPub = parsePublicKey(readFileSync(join(fx, "publisher.pub"), "utf8"));
const PASSWORD = "publisher-demo";

async function errorOf(p: Promise<unknown>): Promise<CosignKeyError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CosignKeyError);
    return e as CosignKeyError;
  }
  throw new Error("expected a CosignKeyError");
}

/** Re-wraps a (possibly altered) JSON body as a PEM with the given label. */
function pemOf(body: unknown, label = "ENCRYPTED SIGSTORE PRIVATE KEY") {
  const b64 = Buffer.from(typeof body === "string" ? body : JSON.stringify(body)).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join("\n")}\n-----END ${label}-----\n`;
}

function fixtureJson(): {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
} {
  const b64 = publisherKey
    .split("\n")
    .filter((l) => l && !l.startsWith("-----"))
    .join("");
  return JSON.parse(Buffer.from(b64, "base64").toString());
}

describe("importing a cosign private key", () => {
  it("decrypts the upstream publisher.key to the key matching publisher.pub", async () => {
    const k = await importCosignPrivateKey(publisherKey, PASSWORD);
    expect(k.algorithm).toBe("ecdsa-p256");
    expect(k.fingerprint).toBe(publisherPub.fingerprint);
    expect(k.publicKeyPem).toBe(publisherPub.pem);
    expect(k.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const data = Buffer.from("payload");
    expect(verifyRaw(publisherPub, data, signP256(k.privateKeyPem, data))).toBe(true);
  });

  it("accepts the older ENCRYPTED COSIGN PRIVATE KEY label", async () => {
    const k = await importCosignPrivateKey(pemOf(fixtureJson(), "ENCRYPTED COSIGN PRIVATE KEY"), PASSWORD);
    expect(k.fingerprint).toBe(publisherPub.fingerprint);
  });

  it("refuses a wrong password with a clear error", async () => {
    const e = await errorOf(importCosignPrivateKey(publisherKey, "not-the-password"));
    expect(e.reason).toBe("WRONG_PASSWORD");
    expect(e.message).toBe("wrong password or corrupted key");
  });

  it("refuses a file whose ciphertext was altered as corrupted", async () => {
    const j = fixtureJson();
    const ct = Buffer.from(j.ciphertext, "base64");
    ct[ct.length - 1]! ^= 1;
    j.ciphertext = ct.toString("base64");
    expect((await errorOf(importCosignPrivateKey(pemOf(j), PASSWORD))).message).toBe("wrong password or corrupted key");
  });

  it("names the label of a PEM that is not an encrypted cosign key", async () => {
    const e = await errorOf(importCosignPrivateKey(generateP256().privateKeyPem, PASSWORD));
    expect(e.reason).toBe("NOT_COSIGN_KEY");
    expect(e.message).toMatch(/not an encrypted cosign private key \(label "PRIVATE KEY"/);
    expect((await errorOf(importCosignPrivateKey("garbage", PASSWORD))).message).toMatch(/not an encrypted cosign private key \(no PEM block/);
    expect((await errorOf(importCosignPrivateKey(publisherKey.repeat(200), PASSWORD))).message).toMatch(/under 64 KiB/);
  });

  it("rejects garbage bodies as malformed", async () => {
    expect((await errorOf(importCosignPrivateKey(pemOf("not json"), PASSWORD))).message).toMatch(/not JSON/);
    expect((await errorOf(importCosignPrivateKey(pemOf([1, 2]), PASSWORD))).message).toMatch(/not a JSON object/);
    expect(
      (await errorOf(importCosignPrivateKey("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----", PASSWORD)))
        .message,
    ).toMatch(/not base64/);
    expect((await errorOf(importCosignPrivateKey(pemOf({}), PASSWORD))).message).toMatch(/kdf is missing, cipher is missing/);
    const j = fixtureJson();
    const bad = { ...j, kdf: { ...j.kdf, salt: "@@@@", params: { N: 32768, r: "8", p: 1 } }, cipher: { ...j.cipher, nonce: "AAAA" } };
    const e = await errorOf(importCosignPrivateKey(pemOf(bad), PASSWORD));
    expect(e.reason).toBe("MALFORMED");
    expect(e.message).toMatch(/kdf.params.r is not a positive integer.*kdf.salt is not base64.*cipher.nonce is 3 bytes, expected 24/);
  });

  it("rejects other key derivations and ciphers by name", async () => {
    const j = fixtureJson();
    const kdf = await errorOf(importCosignPrivateKey(pemOf({ ...j, kdf: { ...j.kdf, name: "pbkdf2" } }), PASSWORD));
    expect(kdf.reason).toBe("UNSUPPORTED_KDF");
    expect(kdf.message).toMatch(/unsupported key derivation "pbkdf2"/);
    const cipher = await errorOf(importCosignPrivateKey(pemOf({ ...j, cipher: { ...j.cipher, name: "aes-gcm" } }), PASSWORD));
    expect(cipher.reason).toBe("UNSUPPORTED_CIPHER");
    expect(cipher.message).toMatch(/unsupported cipher "aes-gcm"/);
  });

  it("refuses scrypt parameters that would exhaust the server instead of hanging", async () => {
    const j = fixtureJson();
    for (const params of [
      { N: 2 ** 21, r: 8, p: 1 },
      { N: 2 ** 20, r: 8, p: 1 },
      { N: 32768, r: 8, p: 1000 },
    ]) {
      const e = await errorOf(importCosignPrivateKey(pemOf({ ...j, kdf: { ...j.kdf, params } }), PASSWORD));
      expect(e.reason).toBe("KDF_PARAMS_TOO_COSTLY");
      expect(e.message).toMatch(/exceed the limits/);
    }
    expect((await errorOf(importCosignPrivateKey(pemOf({ ...j, kdf: { ...j.kdf, params: { N: 1000, r: 8, p: 1 } } }), PASSWORD))).message).toMatch(
      /not a power of two/,
    );
  });

  it("refuses a correctly encrypted key of a type cosign cannot use", async () => {
    // Not via exportCosignPrivateKey, which refuses such a key up front.
    const der = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "der", type: "pkcs8" });
    const { scryptSync } = await import("node:crypto");
    const nacl = (await import("tweetnacl")).default;
    const salt = randomBytes(32);
    const nonce = randomBytes(24);
    const key = scryptSync("pw", salt, 32, { N: 1024, r: 8, p: 1 });
    const body = {
      kdf: { name: "scrypt", params: { N: 1024, r: 8, p: 1 }, salt: salt.toString("base64") },
      cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
      ciphertext: Buffer.from(nacl.secretbox(der, nonce, key)).toString("base64"),
    };
    const e = await errorOf(importCosignPrivateKey(pemOf(body), "pw"));
    expect(e.reason).toBe("UNSUPPORTED_KEY_TYPE");
    expect(e.message).toMatch(/unsupported key type rsa/);
  });
});

describe("exporting a cosign private key", () => {
  it("round-trips through import with the same public key", async () => {
    const generated = generateP256();
    const pem = await exportCosignPrivateKey(generated.privateKeyPem, "s3cret");
    expect(pem).toMatch(/^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const body = JSON.parse(
      Buffer.from(
        pem
          .split("\n")
          .filter((l) => l && !l.startsWith("-----"))
          .join(""),
        "base64",
      ).toString(),
    );
    expect(body.kdf).toMatchObject({ name: "scrypt", params: { N: 32768, r: 8, p: 1 } });
    expect(body.cipher.name).toBe("nacl/secretbox");
    const back = await importCosignPrivateKey(pem, "s3cret");
    expect(back.fingerprint).toBe(generated.fingerprint);
    expect(back.privateKeyPem).toBe(generated.privateKeyPem);
    expect((await errorOf(importCosignPrivateKey(pem, "other"))).reason).toBe("WRONG_PASSWORD");
  });

  it("re-exports the upstream key so that it imports to the same key", async () => {
    const k = await importCosignPrivateKey(publisherKey, PASSWORD);
    const again = await importCosignPrivateKey(await exportCosignPrivateKey(k.privateKeyPem, "new-password"), "new-password");
    expect(again.fingerprint).toBe(publisherPub.fingerprint);
  });

  it("refuses an empty password and an unreadable key", async () => {
    expect((await errorOf(exportCosignPrivateKey(generateP256().privateKeyPem, ""))).message).toMatch(/non-empty password/);
    expect((await errorOf(exportCosignPrivateKey("nope", "pw"))).message).toMatch(/unreadable private key/);
  });
});

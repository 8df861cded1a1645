import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import * as pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePublicKey, verifyRaw } from "./software";
import { HsmError, openToken, rawToDerEcdsa, type Pkcs11Token } from "./pkcs11";
import { buildSimpleSigningPayload } from "../formats/simple-signing";
import { createSoftHsmToken, type SoftHsmToken } from "../testing/softhsm";

function hsmErrorOf(fn: () => unknown): HsmError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HsmError);
    return e as HsmError;
  }
  throw new Error("expected an HsmError");
}

describe("rawToDerEcdsa", () => {
  const hex = (h: string) => Buffer.from(h.replace(/\s/g, ""), "hex");
  const r32 = (first: string, fill = "11") => first + fill.repeat(32 - first.length / 2);

  it("encodes small positive halves without padding", () => {
    expect(rawToDerEcdsa(hex(r32("01") + r32("02"))).toString("hex")).toBe(`3044 0220${r32("01")} 0220${r32("02")}`.replace(/\s/g, ""));
  });

  it("prefixes 0x00 when the high bit is set, so r and s stay positive", () => {
    const der = rawToDerEcdsa(hex(r32("80") + r32("ff")));
    expect(der.toString("hex")).toBe(`3046 022100${r32("80")} 022100${r32("ff")}`.replace(/\s/g, ""));
  });

  it("strips leading zero bytes, then re-adds one only for the high bit", () => {
    const r = "0000" + "7f" + "22".repeat(29); // 30 significant bytes, high bit clear
    const s = "00" + "90" + "33".repeat(30); // 31 significant bytes, high bit set
    expect(rawToDerEcdsa(hex(r + s)).toString("hex")).toBe(`3042 021e7f${"22".repeat(29)} 022000 90${"33".repeat(30)}`.replace(/\s/g, ""));
    const one = "00".repeat(31) + "01";
    expect(rawToDerEcdsa(hex(one + one)).toString("hex")).toBe("3006020101020101");
  });

  it("uses long-form lengths for P-521-sized signatures", () => {
    const der = rawToDerEcdsa(hex("01" + "ff".repeat(65) + "01" + "ff".repeat(65)));
    expect(der.subarray(0, 3).toString("hex")).toBe("308188");
    expect(der.length).toBe(3 + 0x88);
  });

  it("rejects zero components and odd lengths", () => {
    expect(hsmErrorOf(() => rawToDerEcdsa(Buffer.alloc(64))).message).toMatch(/component r is zero/);
    expect(hsmErrorOf(() => rawToDerEcdsa(Buffer.concat([Buffer.from([1]), Buffer.alloc(63)]))).message).toMatch(/component s is zero/);
    expect(hsmErrorOf(() => rawToDerEcdsa(Buffer.alloc(63, 1))).message).toMatch(/equal halves/);
  });

  it("reproduces Node's DER byte for byte on real signatures, including short and high-bit halves", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    // DER -> r||s, independently of the code under test: SEQUENCE { INTEGER r, INTEGER s }, short-form lengths.
    const toRaw = (der: Buffer) => {
      const rLen = der[3]!;
      const r = der.subarray(4, 4 + rLen);
      const s = der.subarray(6 + rLen);
      const pad = (x: Buffer) => Buffer.concat([Buffer.alloc(32), x]).subarray(-32);
      return { raw: Buffer.concat([pad(r), pad(s)]), short: rLen < 32 || s.length < 32, high: rLen === 33 || s.length === 33 };
    };
    let short = 0;
    let high = 0;
    for (let i = 0; i < 2000; i++) {
      const der = sign("sha256", randomBytes(8), { key: privateKey, dsaEncoding: "der" });
      const { raw, short: sh, high: hi } = toRaw(der);
      short += sh ? 1 : 0;
      high += hi ? 1 : 0;
      expect(rawToDerEcdsa(raw).equals(der)).toBe(true);
    }
    // About 1 in 128 signatures has a short half, and 3 in 4 a high-bit one: both paths were exercised.
    expect(short).toBeGreaterThan(0);
    expect(high).toBeGreaterThan(0);
  });
});

describe("P-256 keys in a PKCS#11 token (SoftHSM2)", () => {
  let hsm: SoftHsmToken;
  let token: Pkcs11Token;

  beforeAll(() => {
    hsm = createSoftHsmToken();
    token = openToken({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
  });
  afterAll(() => {
    token?.close();
    hsm?.cleanup();
  });

  it("generates a key in the token and signs a cosign payload that verifies with its exported public key", () => {
    const key = token.generateEcKey({ label: "release-signing" });
    expect(key.keyId).toMatch(/^[0-9a-f]{32}$/);
    expect(key.algorithm).toBe("ecdsa-p256");
    const pub = parsePublicKey(key.publicKeyPem);
    expect(pub.algorithm).toBe("ecdsa-p256");
    expect(key.fingerprint).toBe(pub.fingerprint);

    const payload = buildSimpleSigningPayload({ dockerReference: "registry.example/app", digest: `sha256:${"ab".repeat(32)}` });
    const sig = token.signDigestP256(key.keyId, payload);
    expect(sig[0]).toBe(0x30);
    expect(verifyRaw(pub, payload, sig)).toBe(true);
    expect(verifyRaw(pub, Buffer.concat([payload, Buffer.from(" ")]), sig)).toBe(false);
  });

  it("keeps the private key sensitive and non-extractable: the token refuses to reveal CKA_VALUE", () => {
    const key = token.generateEcKey({ label: "never-leaves" });
    // Ask the token directly, not through the module under test.
    const lib = new pkcs11js.PKCS11();
    lib.load(hsm.module);
    try {
      lib.C_Initialize();
    } catch (e) {
      expect(String(e)).toMatch(/CKR_CRYPTOKI_ALREADY_INITIALIZED/);
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === hsm.label)!;
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    try {
      // Already logged in through `token` (login state is per application), so the private object is visible.
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(key.keyId, "hex") },
      ]);
      const [priv] = lib.C_FindObjects(session, 2);
      lib.C_FindObjectsFinal(session);
      expect(priv).toBeDefined();
      const attrs = lib.C_GetAttributeValue(session, priv!, [
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
        { type: pkcs11js.CKA_SIGN },
      ]);
      expect(attrs.map((a) => a.value[0])).toEqual([1, 1, 0, 1, 1, 1]);
      expect(() => lib.C_GetAttributeValue(session, priv!, [{ type: pkcs11js.CKA_VALUE }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    } finally {
      lib.C_CloseSession(session);
    }
  });

  it("finds and uses the key by id from a new session after the old one closed", () => {
    const key = token.generateEcKey({ label: "reopened", id: "c0ffee01" });
    expect(key.keyId).toBe("c0ffee01");
    token.close();
    expect(hsmErrorOf(() => token.findKey(key.keyId)).reason).toBe("CLOSED");

    token = openToken({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
    const found = token.findKey("C0FFEE01");
    expect(found).toEqual({ ...key, label: "reopened" });
    const data = Buffer.from("after reopen");
    expect(verifyRaw(parsePublicKey(found!.publicKeyPem), data, token.signDigestP256(key.keyId, data))).toBe(true);
  });

  it("refuses a key id that is already taken, and names missing keys and tokens", () => {
    token.generateEcKey({ label: "a", id: "0a0b" });
    expect(hsmErrorOf(() => token.generateEcKey({ label: "b", id: "0a0b" })).reason).toBe("KEY_EXISTS");
    expect(token.findKey("deadbeef")).toBeUndefined();
    const missing = hsmErrorOf(() => token.signDigestP256("deadbeef", Buffer.from("x")));
    expect(missing.reason).toBe("KEY_NOT_FOUND");
    expect(hsmErrorOf(() => token.findKey("not hex")).reason).toBe("INVALID_INPUT");
    const noToken = hsmErrorOf(() => openToken({ module: hsm.module, tokenLabel: "no-such-token", pin: hsm.pin }));
    expect(noToken.reason).toBe("TOKEN_NOT_FOUND");
    expect(noToken.message).toContain(`"${hsm.label}"`);
    expect(hsmErrorOf(() => openToken({ module: "/nonexistent/libpkcs11.so", tokenLabel: "x", pin: "1" })).reason).toBe("MODULE_UNAVAILABLE");
  });

  it("refuses a wrong PIN, whether or not the token is already logged in for this process", () => {
    // `token` is open, so the token itself would accept any PIN now: the module compares with the one that logged in.
    const whileOpen = hsmErrorOf(() => openToken({ module: hsm.module, tokenLabel: hsm.label, pin: "0000" }));
    expect(whileOpen.reason).toBe("PIN_INCORRECT");
    expect(whileOpen.message).toBe(`wrong PIN for token "${hsm.label}"`);

    const second = openToken({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
    second.close();
    token.close();
    // No session left: the token checks the PIN itself.
    const cold = hsmErrorOf(() => openToken({ module: hsm.module, tokenLabel: hsm.label, pin: "0000" }));
    expect(cold.reason).toBe("PIN_INCORRECT");
    expect(cold.ckr).toBe("CKR_PIN_INCORRECT");
    token = openToken({ module: hsm.module, tokenLabel: hsm.label, pin: hsm.pin });
  });
});

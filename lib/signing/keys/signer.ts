/**
 * The one signing interface every key backend implements: `sign(bytes) → { signature, keyRef }`. Callers (the stage
 * signature, the audit checkpoint) say what to sign; the backend decides how, and never hands out the private key.
 * All backends here make ECDSA P-256 / SHA-256 signatures, ASN.1 DER encoded, as cosign writes and verifies them.
 */
import { createPrivateKey, createPublicKey } from "node:crypto";
import { HsmError, type Pkcs11Token } from "./pkcs11";
import { KeyFormatError, parsePublicKey, signP256 } from "./software";

/** Which key made a signature: enough to find its public half again (and to audit its use). */
export interface KeyRef {
  backend: "software" | "pkcs11";
  /** sha256:<hex> of the DER SubjectPublicKeyInfo, as parsePublicKey computes it. */
  fingerprint: string;
  /** PKCS#11: the hex CKA_ID inside its token. Software: null (the key has no location outside its sealed row). */
  keyId: string | null;
}

export interface SignResult {
  /** ASN.1 DER ECDSA signature over SHA-256(bytes). */
  signature: Buffer;
  keyRef: KeyRef;
}

export interface Signer {
  readonly keyRef: KeyRef;
  sign(bytes: Uint8Array): Promise<SignResult>;
}

/** A software key, already unsealed for this use (lib/signing/keys/sealed.ts). The PEM stays inside the closure. */
export function softwareSigner(privateKeyPem: string): Signer {
  const key = createPrivateKey({ key: privateKeyPem, format: "pem" });
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new KeyFormatError("signing key is not ECDSA P-256");
  const publicPem = createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
  const keyRef: KeyRef = { backend: "software", fingerprint: parsePublicKey(publicPem).fingerprint, keyId: null };
  return {
    keyRef,
    async sign(bytes) {
      return { signature: signP256(privateKeyPem, bytes), keyRef };
    },
  };
}

/**
 * A key inside an open PKCS#11 token: it signs in the device and never leaves it. Valid only while the token is
 * open (lib/server/keys/key-material.ts withToken). Throws HsmError KEY_NOT_FOUND when the token has no such key.
 */
export function pkcs11Signer(token: Pkcs11Token, keyId: string): Signer {
  const info = token.findKey(keyId);
  if (!info) throw new HsmError("KEY_NOT_FOUND", `token "${token.tokenLabel}" has no key with id ${keyId}`);
  const keyRef: KeyRef = { backend: "pkcs11", fingerprint: info.fingerprint, keyId: info.keyId };
  return {
    keyRef,
    async sign(bytes) {
      return { signature: token.signDigestP256(keyId, bytes), keyRef };
    },
  };
}

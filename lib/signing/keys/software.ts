import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

export class KeyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyFormatError";
  }
}

export type PublicKeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "rsa" | "ed25519";

export interface PublicKeyInfo {
  key: KeyObject;
  algorithm: PublicKeyAlgorithm;
  /** sha256:<hex> of the DER SubjectPublicKeyInfo, the usual key fingerprint. */
  fingerprint: string;
  pem: string;
}

/** Parses a PEM SubjectPublicKeyInfo as cosign writes it (cosign.pub), accepting only the key types cosign accepts. */
export function parsePublicKey(pem: string): PublicKeyInfo {
  if (typeof pem !== "string" || !pem.includes("-----BEGIN PUBLIC KEY-----")) {
    throw new KeyFormatError("expected a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch (e) {
    throw new KeyFormatError(`unreadable public key: ${(e as Error).message}`);
  }
  let algorithm: PublicKeyAlgorithm;
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === "ec" && details.namedCurve === "prime256v1") algorithm = "ecdsa-p256";
  else if (type === "ec" && details.namedCurve === "secp384r1") algorithm = "ecdsa-p384";
  else if (type === "rsa" && (details.modulusLength ?? 0) >= 2048) algorithm = "rsa";
  else if (type === "ed25519") algorithm = "ed25519";
  else
    throw new KeyFormatError(
      `unsupported key type ${type}${details.namedCurve ? ` (${details.namedCurve})` : ""}${details.modulusLength ? ` (${details.modulusLength} bits)` : ""}: use ECDSA P-256/P-384, RSA >= 2048 or Ed25519`,
    );
  const der = key.export({ format: "der", type: "spki" });
  const canonicalPem = key.export({ format: "pem", type: "spki" }).toString();
  return { key, algorithm, fingerprint: `sha256:${createHash("sha256").update(der).digest("hex")}`, pem: canonicalPem };
}

/** Verifies a raw signature over data, with the hash cosign uses for each key type. */
export function verifyRaw(pub: PublicKeyInfo, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (pub.algorithm) {
      case "ecdsa-p256":
        return verify("sha256", data, { key: pub.key, dsaEncoding: "der" }, signature);
      case "ecdsa-p384":
        return verify("sha384", data, { key: pub.key, dsaEncoding: "der" }, signature);
      case "rsa":
        return verify("sha256", data, pub.key, signature);
      case "ed25519":
        return verify(null, data, pub.key, signature);
      default: {
        const never: never = pub.algorithm;
        return never;
      }
    }
  } catch {
    return false;
  }
}

export interface GeneratedKeyPair {
  algorithm: "ecdsa-p256";
  publicKeyPem: string;
  /** PKCS#8 PEM. Encrypt it before it is stored anywhere. */
  privateKeyPem: string;
  fingerprint: string;
}

export function generateP256(): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicKeyPem = publicKey.export({ format: "pem", type: "spki" }).toString();
  return {
    algorithm: "ecdsa-p256",
    publicKeyPem,
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    fingerprint: parsePublicKey(publicKeyPem).fingerprint,
  };
}

/** ECDSA P-256 / SHA-256 signature, ASN.1 DER encoded, as cosign writes it. */
export function signP256(privateKeyPem: string, data: Uint8Array): Buffer {
  const key = createPrivateKey({ key: privateKeyPem, format: "pem" });
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new KeyFormatError("signing key is not ECDSA P-256");
  }
  return sign("sha256", data, { key, dsaEncoding: "der" });
}

import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Envelope for private keys at rest: "imp1" | 12-byte IV | 16-byte GCM tag | ciphertext.
// The key id (associated data) binds a ciphertext to its row, so swapping ciphertexts between rows fails.
const MAGIC = Buffer.from("imp1");

export class SealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

export function parseMasterKey(b64: string | undefined): Buffer {
  if (!b64) throw new SealError("IMPRIMATUR_MASTER_KEY is not set");
  const key = Buffer.from(b64, "base64");
  if (key.length !== 32) throw new SealError("IMPRIMATUR_MASTER_KEY must be 32 bytes, base64-encoded");
  return key;
}

export function seal(masterKey: Buffer, plaintext: Uint8Array, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", masterKey, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([MAGIC, iv, cipher.getAuthTag(), ct]);
}

export function unseal(masterKey: Buffer, sealed: Uint8Array, aad: string): Buffer {
  const buf = Buffer.from(sealed);
  if (buf.length < 32 || !buf.subarray(0, 4).equals(MAGIC)) throw new SealError("not a sealed key");
  const decipher = createDecipheriv("aes-256-gcm", masterKey, buf.subarray(4, 16));
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(buf.subarray(16, 32));
  try {
    return Buffer.concat([decipher.update(buf.subarray(32)), decipher.final()]);
  } catch {
    throw new SealError("cannot decrypt key: wrong IMPRIMATUR_MASTER_KEY or corrupted ciphertext");
  }
}

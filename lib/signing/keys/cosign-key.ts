import { createPrivateKey, createPublicKey, randomBytes, scrypt as scryptCb, type KeyObject } from "node:crypto";
import nacl from "tweetnacl";
import { parsePublicKey, type PublicKeyAlgorithm } from "./software";

/**
 * The encrypted private key format of cosign (`cosign generate-key-pair`, `cosign.key`), which cosign took from
 * go-securesystemslib's `encrypted` package: a PEM whose body is JSON
 * `{ kdf: { name: "scrypt", params: { N, r, p }, salt }, cipher: { name: "nacl/secretbox", nonce }, ciphertext }`
 * with base64 byte fields; the secretbox key is scrypt(password, salt, N, r, p, 32) and the plaintext is a
 * DER PKCS#8 private key.
 */

export type CosignKeyErrorReason =
  "NOT_COSIGN_KEY" | "MALFORMED" | "UNSUPPORTED_KDF" | "UNSUPPORTED_CIPHER" | "KDF_PARAMS_TOO_COSTLY" | "WRONG_PASSWORD" | "UNSUPPORTED_KEY_TYPE";

export class CosignKeyError extends Error {
  constructor(
    readonly reason: CosignKeyErrorReason,
    message: string,
  ) {
    super(message);
    this.name = "CosignKeyError";
  }
}

export interface ImportedCosignKey {
  /** PKCS#8 PEM of the decrypted key. Seal it (lib/signing/keys/sealed.ts) before it is stored anywhere. */
  privateKeyPem: string;
  publicKeyPem: string;
  algorithm: PublicKeyAlgorithm;
  /** sha256:<hex> of the DER SubjectPublicKeyInfo, as parsePublicKey computes it. */
  fingerprint: string;
}

const LABELS = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"] as const;
const EXPORT_LABEL = LABELS[0];

// A cosign.key is well under 1 KiB (an RSA-4096 one about 4 KiB); anything far larger is not one.
const MAX_PEM_CHARS = 64 * 1024;

// The scrypt parameters come from the file, so they are untrusted: a crafted key could ask for gigabytes of
// memory or minutes of CPU. cosign writes N=32768 r=8 p=1 (32 MiB); allow some headroom, refuse the rest with a
// clear error rather than hang or exhaust the server.
const MAX_SCRYPT_N = 2 ** 20;
const MAX_SCRYPT_R = 32;
const MAX_SCRYPT_P = 16;
const MAX_SCRYPT_MEMORY = 128 * 1024 * 1024;

/** cosign's defaults (go-securesystemslib encrypted.NewScryptKDF with its "standard" cost). */
const EXPORT_SCRYPT = { N: 32768, r: 8, p: 1 } as const;

const NONCE_BYTES = nacl.secretbox.nonceLength; // 24
const KEY_BYTES = nacl.secretbox.keyLength; // 32

interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * Decrypts a cosign / sigstore encrypted private key (`cosign.key`) with its password.
 * Async because scrypt at cosign's cost takes ~100 ms of CPU; it runs on the libuv pool instead of blocking the
 * server's event loop.
 */
export async function importCosignPrivateKey(pem: string, password: string): Promise<ImportedCosignKey> {
  const envelope = parseEnvelope(pem);
  const key = await deriveKey(password, envelope.salt, envelope.params);
  const plaintext = nacl.secretbox.open(envelope.ciphertext, envelope.nonce, key);
  key.fill(0);
  // secretbox is authenticated: a wrong password and a modified file are indistinguishable, by design.
  if (!plaintext) throw new CosignKeyError("WRONG_PASSWORD", "wrong password or corrupted key");
  const der = Buffer.from(plaintext);
  try {
    return describePrivateKey(der);
  } finally {
    der.fill(0);
    plaintext.fill(0);
  }
}

/** Encrypts a PKCS#8 (or any PEM private key Node reads) private key as cosign writes `cosign.key`. */
export async function exportCosignPrivateKey(privateKeyPem: string, password: string): Promise<string> {
  // An empty password would make the "encrypted" file readable by anyone who gets it.
  if (typeof password !== "string" || password.length === 0) {
    throw new CosignKeyError("MALFORMED", "a non-empty password is required to export a private key");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: privateKeyPem, format: "pem" });
  } catch (e) {
    throw new CosignKeyError("MALFORMED", `unreadable private key: ${(e as Error).message}`);
  }
  const der = key.export({ format: "der", type: "pkcs8" });
  // Refuse key types cosign and this project cannot use, before writing a file nobody can import.
  describePrivateKey(der);

  const salt = randomBytes(32);
  const nonce = randomBytes(NONCE_BYTES);
  const secretKey = await deriveKey(password, salt, EXPORT_SCRYPT);
  const ciphertext = nacl.secretbox(der, nonce, secretKey);
  secretKey.fill(0);
  der.fill(0);
  // Same field order and encoding as go-securesystemslib, so the file looks like one cosign wrote.
  const body = JSON.stringify({
    kdf: { name: "scrypt", params: { N: EXPORT_SCRYPT.N, r: EXPORT_SCRYPT.r, p: EXPORT_SCRYPT.p }, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
    ciphertext: Buffer.from(ciphertext).toString("base64"),
  });
  const lines =
    Buffer.from(body)
      .toString("base64")
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${EXPORT_LABEL}-----\n${lines.join("\n")}\n-----END ${EXPORT_LABEL}-----\n`;
}

interface Envelope {
  params: ScryptParams;
  salt: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
}

/**
 * The first `-----BEGIN <LABEL>-----` … `-----END <LABEL>-----` block, found with indexOf. The regex it replaces
 * (lazy body plus a backreference) rescanned the text from every BEGIN line: quadratic on a hostile upload.
 */
function firstPemBlock(pem: string): { label: string; body: string } | null {
  let i = pem.indexOf("-----BEGIN ");
  while (i >= 0) {
    const labelStart = i + "-----BEGIN ".length;
    const labelEnd = pem.indexOf("-----", labelStart);
    if (labelEnd < 0) return null;
    const label = pem.slice(labelStart, labelEnd);
    if (
      label.length > 0 &&
      label.length <= 64 &&
      /^[A-Z0-9 ]+$/.test(label) &&
      (pem[labelEnd + 5] === "\n" || (pem[labelEnd + 5] === "\r" && pem[labelEnd + 6] === "\n"))
    ) {
      const end = pem.indexOf(`-----END ${label}-----`, labelEnd + 5);
      if (end >= 0) return { label, body: pem.slice(labelEnd + 5, end) };
    }
    i = pem.indexOf("-----BEGIN ", labelStart);
  }
  return null;
}

function parseEnvelope(pem: string): Envelope {
  if (typeof pem !== "string" || pem.length > MAX_PEM_CHARS) {
    throw new CosignKeyError("NOT_COSIGN_KEY", "not an encrypted cosign private key (expected a PEM text under 64 KiB)");
  }
  const m = firstPemBlock(pem);
  if (!m) throw new CosignKeyError("NOT_COSIGN_KEY", "not an encrypted cosign private key (no PEM block found)");
  const label = m.label;
  if (!(LABELS as readonly string[]).includes(label)) {
    throw new CosignKeyError("NOT_COSIGN_KEY", `not an encrypted cosign private key (label "${label}", expected "${LABELS.join('" or "')}")`);
  }
  const b64 = m.body.replace(/\s+/g, "");
  const raw = strictBase64(b64);
  if (!raw) throw new CosignKeyError("MALFORMED", "malformed cosign private key: the PEM body is not base64");

  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new CosignKeyError("MALFORMED", "malformed cosign private key: the PEM body is not JSON");
  }
  const problems: string[] = [];
  const obj = asRecord(json);
  const kdf = asRecord(obj?.kdf);
  const cipher = asRecord(obj?.cipher);
  const params = asRecord(kdf?.params);
  if (!obj) throw new CosignKeyError("MALFORMED", "malformed cosign private key: the PEM body is not a JSON object");
  if (!kdf) problems.push("kdf is missing");
  if (!cipher) problems.push("cipher is missing");
  if (problems.length) throw new CosignKeyError("MALFORMED", `malformed cosign private key: ${problems.join(", ")}`);

  if (kdf?.name !== "scrypt") {
    throw new CosignKeyError("UNSUPPORTED_KDF", `unsupported key derivation ${JSON.stringify(kdf?.name)}: only scrypt is supported`);
  }
  if (cipher?.name !== "nacl/secretbox") {
    throw new CosignKeyError("UNSUPPORTED_CIPHER", `unsupported cipher ${JSON.stringify(cipher?.name)}: only nacl/secretbox is supported`);
  }

  const int = (v: unknown, name: string) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) problems.push(`kdf.params.${name} is not a positive integer`);
    return v as number;
  };
  const N = int(params?.N, "N");
  const r = int(params?.r, "r");
  const p = int(params?.p, "p");
  const salt = field(kdf?.salt, "kdf.salt", problems);
  const nonce = field(cipher?.nonce, "cipher.nonce", problems);
  const ciphertext = field(obj.ciphertext, "ciphertext", problems);
  if (nonce && nonce.length !== NONCE_BYTES) problems.push(`cipher.nonce is ${nonce.length} bytes, expected ${NONCE_BYTES}`);
  if (salt && salt.length === 0) problems.push("kdf.salt is empty");
  if (ciphertext && ciphertext.length <= nacl.secretbox.overheadLength) problems.push("ciphertext is too short");
  if (problems.length || !salt || !nonce || !ciphertext) {
    throw new CosignKeyError("MALFORMED", `malformed cosign private key: ${problems.join(", ")}`);
  }
  return { params: { N, r, p }, salt, nonce, ciphertext };
}

async function deriveKey(password: string, salt: Buffer, { N, r, p }: ScryptParams): Promise<Buffer> {
  if (typeof password !== "string") throw new CosignKeyError("WRONG_PASSWORD", "a password is required");
  // N must be a power of two > 1 (scrypt's definition); Node would reject it anyway, with a less clear message.
  if (N < 2 || (N & (N - 1)) !== 0) {
    throw new CosignKeyError("MALFORMED", `malformed cosign private key: scrypt N=${N} is not a power of two`);
  }
  // scrypt allocates 128*N*r bytes for V plus 128*r*p for B.
  const memory = 128 * r * (N + p);
  if (N > MAX_SCRYPT_N || r > MAX_SCRYPT_R || p > MAX_SCRYPT_P || memory > MAX_SCRYPT_MEMORY) {
    throw new CosignKeyError(
      "KDF_PARAMS_TOO_COSTLY",
      `scrypt parameters N=${N} r=${r} p=${p} exceed the limits (N <= 2^20, r <= ${MAX_SCRYPT_R}, p <= ${MAX_SCRYPT_P}, ` +
        `memory <= ${MAX_SCRYPT_MEMORY / 1024 / 1024} MiB); cosign writes N=32768 r=8 p=1`,
    );
  }
  return new Promise((resolve, reject) => {
    // Node's default maxmem (32 MiB) is exactly cosign's 128*N*r and fails on the small overhead on top.
    scryptCb(Buffer.from(password, "utf8"), salt, KEY_BYTES, { N, r, p, maxmem: memory + 16 * 1024 * 1024 }, (err, key) =>
      err ? reject(new CosignKeyError("MALFORMED", `scrypt failed: ${err.message}`)) : resolve(key),
    );
  });
}

function describePrivateKey(pkcs8Der: Buffer): ImportedCosignKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pkcs8Der, format: "der", type: "pkcs8" });
  } catch (e) {
    throw new CosignKeyError("UNSUPPORTED_KEY_TYPE", `the decrypted key is not a PKCS#8 private key Node can read: ${(e as Error).message}`);
  }
  const publicKeyPem = createPublicKey(key).export({ format: "pem", type: "spki" }).toString();
  let info;
  try {
    info = parsePublicKey(publicKeyPem);
  } catch (e) {
    throw new CosignKeyError("UNSUPPORTED_KEY_TYPE", (e as Error).message);
  }
  return {
    privateKeyPem: key.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKeyPem: info.pem,
    algorithm: info.algorithm,
    fingerprint: info.fingerprint,
  };
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function field(v: unknown, name: string, problems: string[]): Buffer | undefined {
  if (typeof v !== "string") {
    problems.push(`${name} is missing`);
    return undefined;
  }
  const b = strictBase64(v);
  if (!b) problems.push(`${name} is not base64`);
  return b;
}

/** Buffer.from(…, "base64") silently skips junk; a key file with junk in it is malformed, not "wrong password". */
function strictBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, "base64");
}

import { createHash, createPublicKey, randomBytes, timingSafeEqual, verify } from "node:crypto";
import { endianness } from "node:os";
import * as pkcs11js from "pkcs11js";
import { parsePublicKey } from "./software";

/**
 * ECDSA P-256 keys held in a PKCS#11 token (an HSM, a cloud HSM's PKCS#11 library, or SoftHSM2 in tests).
 * The private key is generated inside the token as sensitive and non-extractable, so it never exists outside it;
 * this module only ever reads the public point and asks the token for signatures.
 *
 * Sessions and threads:
 * - C_Initialize is called once per module per process (the `modules` registry) and never finalized: a second
 *   C_Initialize fails with CKR_CRYPTOKI_ALREADY_INITIALIZED, and C_Finalize would pull the library out from under
 *   every other open token of the process.
 * - One `Pkcs11Token` holds one read-write session, opened by openToken() and closed by close(). pkcs11js is
 *   synchronous and the JS thread never interleaves two calls, so a session is never used concurrently and a pool
 *   buys nothing. The price is that each call blocks the event loop for the device's latency (well under a
 *   millisecond for SoftHSM; a network HSM may take longer). Moving to pkcs11js' *Async calls would need a lock
 *   per session, since C_SignInit/C_Sign on one session must not interleave.
 * - PKCS#11 login state belongs to the application, not the session: C_Login on one session logs in all of them,
 *   and it lasts until the last session on the token closes. So a second openToken() on an already logged-in token
 *   cannot ask the token to check its PIN (it would answer CKR_USER_ALREADY_LOGGED_IN for any PIN); we compare it
 *   with the PIN that logged in instead. close() never calls C_Logout, which would log out the other sessions.
 * - Processes do not share this state: the SoftHSM2 file backend and real HSMs serve several processes at once.
 * - The module is native: Next must keep `pkcs11js` external (`serverExternalPackages`), and it must not be loaded
 *   in a worker thread that writes process.env (SoftHSM reads SOFTHSM2_CONF with getenv at C_Initialize).
 */

export type HsmErrorReason =
  | "MODULE_UNAVAILABLE"
  | "TOKEN_NOT_FOUND"
  | "PIN_INCORRECT"
  | "PIN_LOCKED"
  | "KEY_NOT_FOUND"
  | "KEY_EXISTS"
  | "UNSUPPORTED_KEY"
  | "INVALID_INPUT"
  | "CLOSED"
  | "DEVICE_ERROR";

export class HsmError extends Error {
  constructor(
    readonly reason: HsmErrorReason,
    message: string,
    /** The PKCS#11 return value name (CKR_…) when the token reported one. */
    readonly ckr?: string,
  ) {
    super(message);
    this.name = "HsmError";
  }
}

export interface OpenTokenOptions {
  /** Path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  module: string;
  /** The token's label (CKA_LABEL of the token, as `softhsm2-util --init-token --label` sets it). */
  tokenLabel: string;
  /** The user PIN. Never logged; kept only as a SHA-256 to check later logins in this process. */
  pin: string;
}

export interface Pkcs11KeyInfo {
  /** Hex CKA_ID shared by the private and public key objects. */
  keyId: string;
  label: string;
  algorithm: "ecdsa-p256";
  /** SubjectPublicKeyInfo PEM built from the token's CKA_EC_POINT. */
  publicKeyPem: string;
  /** sha256:<hex> of the DER SubjectPublicKeyInfo, as parsePublicKey computes it. */
  fingerprint: string;
}

// DER of OID 1.2.840.10045.3.1.7 (prime256v1), the CKA_EC_PARAMS of a P-256 key.
const P256_EC_PARAMS = Buffer.from("06082a8648ce3d030107", "hex");
// SPKI up to the BIT STRING's contents: SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }.
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

interface LoadedModule {
  lib: pkcs11js.PKCS11;
  /** Per slot: the PIN (hashed) that logged in and how many of our sessions are open, see the header comment. */
  logins: Map<string, { pinHash: Buffer; sessions: number }>;
}

const modules = new Map<string, LoadedModule>();

function loadModule(path: string): LoadedModule {
  const existing = modules.get(path);
  if (existing) return existing;
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    throw new HsmError("MODULE_UNAVAILABLE", `cannot load PKCS#11 module ${path}: ${(e as Error).message}`);
  }
  try {
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (e) {
    // Another PKCS11 instance of this process (another copy of this module, a test) initialized it: that's fine,
    // the library's state is per process.
    if (ckrOf(e) !== "CKR_CRYPTOKI_ALREADY_INITIALIZED") {
      throw new HsmError("MODULE_UNAVAILABLE", `cannot initialize PKCS#11 module ${path}: ${(e as Error).message}`, ckrOf(e));
    }
  }
  const loaded: LoadedModule = { lib, logins: new Map() };
  modules.set(path, loaded);
  return loaded;
}

/** Opens a logged-in session on the token with this label. Close it with close(). */
export function openToken(opts: OpenTokenOptions): Pkcs11Token {
  if (!opts.module || !opts.tokenLabel) throw new HsmError("INVALID_INPUT", "module and tokenLabel are required");
  if (typeof opts.pin !== "string" || opts.pin.length === 0) throw new HsmError("INVALID_INPUT", "a PIN is required");
  const mod = loadModule(opts.module);
  const { lib } = mod;

  const slot = findSlot(lib, opts.tokenLabel, opts.module);
  const slotKey = slot.toString("hex");
  let session: Buffer;
  try {
    session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  } catch (e) {
    throw deviceError(`cannot open a session on token "${opts.tokenLabel}"`, e);
  }

  const pinHash = createHash("sha256").update(opts.pin, "utf8").digest();
  const login = mod.logins.get(slotKey);
  try {
    if (login && login.sessions > 0) {
      // The token is already logged in for this process and would not check this PIN; see the header comment.
      if (!timingSafeEqual(login.pinHash, pinHash)) {
        throw new HsmError("PIN_INCORRECT", `wrong PIN for token "${opts.tokenLabel}"`);
      }
      login.sessions++;
    } else {
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, opts.pin);
      } catch (e) {
        const ckr = ckrOf(e);
        if (ckr === "CKR_PIN_INCORRECT") throw new HsmError("PIN_INCORRECT", `wrong PIN for token "${opts.tokenLabel}"`, ckr);
        if (ckr === "CKR_PIN_LOCKED") {
          throw new HsmError("PIN_LOCKED", `the user PIN of token "${opts.tokenLabel}" is locked; reset it with the SO PIN`, ckr);
        }
        // Logged in by a session this registry does not know of (another PKCS11 instance in this process): the
        // PIN cannot be checked by the token now; it is the one that will be compared from here on.
        if (ckr !== "CKR_USER_ALREADY_LOGGED_IN") throw deviceError(`cannot log in to token "${opts.tokenLabel}"`, e);
      }
      mod.logins.set(slotKey, { pinHash, sessions: 1 });
    }
  } catch (e) {
    safeCloseSession(lib, session);
    throw e;
  }
  return new Pkcs11Token(mod, slotKey, session, opts.tokenLabel);
}

export class Pkcs11Token {
  private session: Buffer | undefined;

  /** @internal use openToken() */
  constructor(
    private readonly mod: LoadedModule,
    private readonly slotKey: string,
    session: Buffer,
    readonly tokenLabel: string,
  ) {
    this.session = session;
  }

  /**
   * Generates a P-256 key pair inside the token. The private key is a token object that is private, sensitive
   * and non-extractable, usable only to sign.
   */
  generateEcKey(opts: { label: string; /** hex CKA_ID; random 16 bytes when absent */ id?: string }): Pkcs11KeyInfo {
    const session = this.open();
    const { lib } = this.mod;
    if (typeof opts.label !== "string" || opts.label.length === 0 || opts.label.length > 128) {
      throw new HsmError("INVALID_INPUT", "key label must be 1 to 128 characters");
    }
    const id = opts.id === undefined ? randomBytes(16) : parseKeyId(opts.id);
    if (this.findObjects(pkcs11js.CKO_PRIVATE_KEY, id).length || this.findObjects(pkcs11js.CKO_PUBLIC_KEY, id).length) {
      throw new HsmError("KEY_EXISTS", `token "${this.tokenLabel}" already holds a key with id ${id.toString("hex")}`);
    }
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
      { type: pkcs11js.CKA_LABEL, value: opts.label },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    try {
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_VERIFY, value: true },
          { type: pkcs11js.CKA_EC_PARAMS, value: P256_EC_PARAMS },
        ],
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          // These three are what keeps the key in the token: it needs a login to use, and neither its value nor a
          // wrapped copy of it can be read out. Tokens make SENSITIVE one-way and EXTRACTABLE false one-way.
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_DECRYPT, value: false },
          { type: pkcs11js.CKA_DERIVE, value: false },
        ],
      );
    } catch (e) {
      throw deviceError(`cannot generate a P-256 key in token "${this.tokenLabel}"`, e);
    }
    const info = this.findKey(id.toString("hex"));
    if (!info) throw new HsmError("DEVICE_ERROR", `token "${this.tokenLabel}" did not keep the generated key`);
    return info;
  }

  /** The key with this hex CKA_ID, or undefined when the token has none. */
  findKey(keyId: string): Pkcs11KeyInfo | undefined {
    return this.lookup(keyId)?.info;
  }

  /**
   * Signs SHA-256(data) with the token's P-256 key and returns the ASN.1 DER signature cosign and
   * lib/signing/keys/software.ts verifyRaw expect.
   */
  signDigestP256(keyId: string, data: Uint8Array): Buffer {
    const found = this.lookup(keyId);
    if (!found) throw new HsmError("KEY_NOT_FOUND", `token "${this.tokenLabel}" has no key with id ${keyId}`);
    const session = this.open();
    const { lib } = this.mod;
    // Hash here and sign the digest with plain CKM_ECDSA: every token has it, whereas CKM_ECDSA_SHA256 is
    // optional, and only 32 bytes cross to the device whatever the payload size.
    const digest = createHash("sha256").update(data).digest();
    let raw: Buffer;
    try {
      lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, found.privateKey);
      raw = lib.C_Sign(session, digest, Buffer.alloc(132));
    } catch (e) {
      throw deviceError(`token "${this.tokenLabel}" refused to sign with key ${keyId}`, e);
    }
    if (raw.length !== 64) {
      throw new HsmError("DEVICE_ERROR", `token "${this.tokenLabel}" returned a ${raw.length}-byte ECDSA signature, expected 64 (r||s)`);
    }
    const der = rawToDerEcdsa(raw);
    // A faulty device (or a public object that does not match the private one) must not yield a signature that
    // every verifier will reject later, far from the cause.
    const key = createPublicKey({ key: found.info.publicKeyPem, format: "pem" });
    if (!verify("sha256", data, { key, dsaEncoding: "der" }, der)) {
      throw new HsmError("DEVICE_ERROR", `token "${this.tokenLabel}" produced a signature that key ${keyId}'s public key does not verify`);
    }
    return der;
  }

  /** Closes the session. The token logs out by itself when the process's last session on it closes. */
  close(): void {
    const session = this.session;
    if (!session) return;
    this.session = undefined;
    safeCloseSession(this.mod.lib, session);
    const login = this.mod.logins.get(this.slotKey);
    if (login && --login.sessions <= 0) this.mod.logins.delete(this.slotKey);
  }

  private open(): Buffer {
    if (!this.session) throw new HsmError("CLOSED", `the session on token "${this.tokenLabel}" is closed`);
    return this.session;
  }

  private findObjects(cls: number, id: Buffer): Buffer[] {
    const session = this.open();
    const { lib } = this.mod;
    try {
      lib.C_FindObjectsInit(session, [
        { type: pkcs11js.CKA_CLASS, value: cls },
        { type: pkcs11js.CKA_ID, value: id },
      ]);
      try {
        return lib.C_FindObjects(session, 2);
      } finally {
        lib.C_FindObjectsFinal(session);
      }
    } catch (e) {
      throw deviceError(`cannot search token "${this.tokenLabel}"`, e);
    }
  }

  private lookup(keyId: string): { privateKey: Buffer; info: Pkcs11KeyInfo } | undefined {
    const id = parseKeyId(keyId);
    const hex = id.toString("hex");
    const privs = this.findObjects(pkcs11js.CKO_PRIVATE_KEY, id);
    if (privs.length === 0) return undefined;
    // Two objects with one id would make "which key signed" ambiguous.
    if (privs.length > 1) throw new HsmError("UNSUPPORTED_KEY", `token "${this.tokenLabel}" holds several private keys with id ${hex}`);
    const pubs = this.findObjects(pkcs11js.CKO_PUBLIC_KEY, id);
    if (pubs.length !== 1) {
      throw new HsmError("UNSUPPORTED_KEY", `token "${this.tokenLabel}" holds ${pubs.length} public keys with id ${hex}, expected 1`);
    }
    const privateKey = privs[0]!;
    const { lib } = this.mod;
    let priv: pkcs11js.TemplateResult;
    let pub: pkcs11js.TemplateResult;
    try {
      priv = lib.C_GetAttributeValue(this.open(), privateKey, [{ type: pkcs11js.CKA_KEY_TYPE }, { type: pkcs11js.CKA_EC_PARAMS }, { type: pkcs11js.CKA_SIGN }]);
      pub = lib.C_GetAttributeValue(this.open(), pubs[0]!, [{ type: pkcs11js.CKA_EC_POINT }, { type: pkcs11js.CKA_LABEL }]);
    } catch (e) {
      throw deviceError(`cannot read the attributes of key ${hex}`, e);
    }
    const keyType = priv[0]?.value;
    const params = priv[1]?.value;
    if (!keyType || readUlong(keyType) !== pkcs11js.CKK_EC || !params || !params.equals(P256_EC_PARAMS)) {
      throw new HsmError("UNSUPPORTED_KEY", `key ${hex} in token "${this.tokenLabel}" is not an ECDSA P-256 key`);
    }
    if (!priv[2]?.value || priv[2].value[0] !== 1) {
      throw new HsmError("UNSUPPORTED_KEY", `key ${hex} in token "${this.tokenLabel}" is not allowed to sign (CKA_SIGN false)`);
    }
    const publicKeyPem = p256SpkiPem(pub[0]?.value ?? Buffer.alloc(0));
    const parsed = parsePublicKey(publicKeyPem);
    return {
      privateKey,
      info: { keyId: hex, label: pub[1]?.value.toString("utf8") ?? "", algorithm: "ecdsa-p256", publicKeyPem: parsed.pem, fingerprint: parsed.fingerprint },
    };
  }
}

/**
 * Converts a raw ECDSA signature r||s (PKCS#11 CKM_ECDSA output, IEEE P1363; both halves the same length) to
 * ASN.1 DER `SEQUENCE { INTEGER r, INTEGER s }`: leading zero bytes stripped, a 0x00 added where the high bit
 * would otherwise make the INTEGER negative.
 */
export function rawToDerEcdsa(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0 || raw.length > 264) {
    throw new HsmError("INVALID_INPUT", `a raw ECDSA signature is r||s of equal halves; got ${raw.length} bytes`);
  }
  const half = raw.length / 2;
  const integer = (bytes: Uint8Array, name: string) => {
    let i = 0;
    while (i < bytes.length && bytes[i] === 0) i++;
    // r and s are in [1, n-1]: zero is never a valid signature component.
    if (i === bytes.length) throw new HsmError("INVALID_INPUT", `ECDSA signature component ${name} is zero`);
    const body = Buffer.from(bytes.subarray(i));
    const content = body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body;
    return Buffer.concat([Buffer.from([0x02]), derLength(content.length), content]);
  };
  const r = integer(raw.subarray(0, half), "r");
  const s = integer(raw.subarray(half), "s");
  return Buffer.concat([Buffer.from([0x30]), derLength(r.length + s.length), r, s]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}

/** Builds the P-256 SubjectPublicKeyInfo PEM from CKA_EC_POINT. */
function p256SpkiPem(ecPoint: Buffer): string {
  // PKCS#11 says CKA_EC_POINT is the DER OCTET STRING of the point (04 41 04 X Y); some modules return the bare
  // point (04 X Y). The lengths tell them apart: 67 against 65.
  let point: Buffer;
  if (ecPoint.length === 67 && ecPoint[0] === 0x04 && ecPoint[1] === 0x41) point = ecPoint.subarray(2);
  else if (ecPoint.length === 65) point = ecPoint;
  else throw new HsmError("UNSUPPORTED_KEY", `unexpected CKA_EC_POINT of ${ecPoint.length} bytes for a P-256 key`);
  if (point[0] !== 0x04) throw new HsmError("UNSUPPORTED_KEY", "CKA_EC_POINT is not an uncompressed point");
  const der = Buffer.concat([P256_SPKI_PREFIX, point]);
  try {
    // Also checks that the point is on the curve.
    return createPublicKey({ key: der, format: "der", type: "spki" }).export({ format: "pem", type: "spki" }).toString();
  } catch (e) {
    throw new HsmError("UNSUPPORTED_KEY", `CKA_EC_POINT is not a valid P-256 point: ${(e as Error).message}`);
  }
}

function findSlot(lib: pkcs11js.PKCS11, label: string, module: string): Buffer {
  let slots: Buffer[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (e) {
    throw deviceError(`cannot list the slots of ${module}`, e);
  }
  const labels: string[] = [];
  const matches: Buffer[] = [];
  for (const slot of slots) {
    let info: pkcs11js.TokenInfo;
    try {
      info = lib.C_GetTokenInfo(slot);
    } catch {
      continue; // a slot whose token went away between the two calls
    }
    // Token labels are fixed 32-byte, blank-padded fields.
    const l = info.label.replace(/[\s\0]+$/, "");
    if (!(info.flags & pkcs11js.CKF_TOKEN_INITIALIZED)) continue;
    labels.push(l);
    if (l === label) matches.push(slot);
  }
  if (matches.length === 0) {
    throw new HsmError(
      "TOKEN_NOT_FOUND",
      `no initialized token labelled "${label}" in ${module}${labels.length ? ` (tokens: ${labels.map((x) => `"${x}"`).join(", ")})` : " (no initialized tokens)"}`,
    );
  }
  if (matches.length > 1) throw new HsmError("TOKEN_NOT_FOUND", `${matches.length} tokens are labelled "${label}" in ${module}; labels must be unique`);
  return matches[0]!;
}

function parseKeyId(keyId: string): Buffer {
  if (typeof keyId !== "string" || !/^(?:[0-9a-fA-F]{2}){1,64}$/.test(keyId)) {
    throw new HsmError("INVALID_INPUT", `key id must be 1 to 64 bytes of hex, got ${JSON.stringify(String(keyId).slice(0, 40))}`);
  }
  return Buffer.from(keyId, "hex");
}

/** CK_ULONG attributes come back in the platform's native byte order and width. */
function readUlong(b: Buffer): number {
  const le = endianness() === "LE";
  if (b.length === 8) return Number(le ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0));
  if (b.length === 4) return le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  return -1;
}

function ckrOf(e: unknown): string | undefined {
  const m = /CKR_[A-Z0-9_]+/.exec(e instanceof Error ? `${e.message}` : String(e));
  return m?.[0];
}

function deviceError(what: string, e: unknown): HsmError {
  const ckr = ckrOf(e);
  return new HsmError("DEVICE_ERROR", `${what}: ${ckr ?? (e as Error).message}`, ckr);
}

function safeCloseSession(lib: pkcs11js.PKCS11, session: Buffer): void {
  try {
    lib.C_CloseSession(session);
  } catch {
    // The session is gone either way (token removed, library reset); nothing to release.
  }
}

import "server-only";
import { randomUUID } from "node:crypto";
import { bytes } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { generateP256 } from "../../signing/keys/software";
import { HsmError, openToken, type Pkcs11Token } from "../../signing/keys/pkcs11";
import { seal } from "../../signing/keys/sealed";
import { masterKey } from "./master-key";

export type KeyBackend = "software" | "pkcs11";

/** The PKCS#11 settings from the environment; a stage with backend pkcs11 cannot sign without all three. */
export function pkcs11Config(): { module: string; tokenLabel: string; pin: string } {
  const e = env();
  if (!e.PKCS11_MODULE || !e.PKCS11_TOKEN_LABEL || !e.PKCS11_PIN) {
    throw new AppError("POLICY_VIOLATION", "the PKCS#11 backend needs PKCS11_MODULE, PKCS11_TOKEN_LABEL and PKCS11_PIN in the server's environment");
  }
  return { module: e.PKCS11_MODULE, tokenLabel: e.PKCS11_TOKEN_LABEL, pin: e.PKCS11_PIN };
}

export function hsmAppError(e: unknown, what: string): unknown {
  if (!(e instanceof HsmError)) return e;
  // The reason is safe to show (no PIN, no key material); the token's own message may name the module path.
  const code =
    e.reason === "PIN_INCORRECT" || e.reason === "PIN_LOCKED" || e.reason === "TOKEN_NOT_FOUND" || e.reason === "MODULE_UNAVAILABLE"
      ? "POLICY_VIOLATION"
      : "INTERNAL";
  return new AppError(code, `${what}: PKCS#11 ${e.reason.toLowerCase().replace(/_/g, " ")}`);
}

export async function withToken<T>(fn: (t: Pkcs11Token) => T | Promise<T>, what: string, tokenLabel?: string | null): Promise<T> {
  let token: Pkcs11Token | undefined;
  try {
    const cfg = pkcs11Config();
    token = openToken({ ...cfg, tokenLabel: tokenLabel ?? cfg.tokenLabel });
    return await fn(token);
  } catch (e) {
    throw hsmAppError(e, what);
  } finally {
    token?.close();
  }
}

/** The columns of a new signing key, generated on the server (sealed) or inside the PKCS#11 token (never leaves it). */
export async function generateKeyMaterial(backend: KeyBackend, name: string) {
  const id = randomUUID();
  if (backend === "pkcs11") {
    const cfg = pkcs11Config();
    const info = await withToken((t) => t.generateEcKey({ label: name }), `generating key ${name} in token ${cfg.tokenLabel}`);
    return {
      id,
      algorithm: info.algorithm,
      publicKeyPem: info.publicKeyPem,
      fingerprint: info.fingerprint,
      encryptedPrivateKey: null,
      backend,
      pkcs11TokenLabel: cfg.tokenLabel,
      pkcs11KeyId: info.keyId,
    };
  }
  const mk = masterKey();
  const kp = generateP256();
  return {
    id,
    algorithm: kp.algorithm,
    publicKeyPem: kp.publicKeyPem,
    fingerprint: kp.fingerprint,
    encryptedPrivateKey: bytes(seal(mk, Buffer.from(kp.privateKeyPem), id)),
    backend,
    pkcs11TokenLabel: null,
    pkcs11KeyId: null,
  };
}

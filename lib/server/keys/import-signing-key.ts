import "server-only";
import { randomUUID } from "node:crypto";
import { bytes, db } from "../../db";
import { AppError } from "../../errors";
import { CosignKeyError, importCosignPrivateKey } from "../../signing/keys/cosign-key";
import { seal } from "../../signing/keys/sealed";
import { requireRole, type Actor } from "../actor";
import { KEY_NAME } from "./create-signing-key";
import { masterKey } from "./master-key";
import { installStageKey } from "./rotate-signing-key";

export interface ImportSigningKeyOptions {
  actor: Actor;
  stage: string;
  /** The encrypted cosign private key (`ENCRYPTED SIGSTORE PRIVATE KEY` or `ENCRYPTED COSIGN PRIVATE KEY`). */
  pem: string;
  password: string;
  name?: string;
}

/**
 * Imports an existing cosign private key as the stage's current key (the previous one is retired, as in a rotation).
 * It is decrypted with its password only to be re-sealed under the master key; the password is not stored.
 * Stage signatures are ECDSA P-256, so only P-256 keys are accepted.
 */
export async function importSigningKey({ actor, stage: stageName, pem, password, name }: ImportSigningKeyOptions) {
  requireRole(actor, ["admin"], "importing signing keys");
  const stage = await db.stage.findUnique({ where: { name: stageName } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  if (typeof pem !== "string" || pem.length === 0) throw new AppError("INVALID_INPUT", "give the encrypted cosign private key (PEM)", "pem");
  if (typeof password !== "string") throw new AppError("INVALID_INPUT", "give the key's password", "password");
  const keyName = name ?? `stage-${stage.name}-imported-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  if (!KEY_NAME.test(keyName)) throw new AppError("INVALID_INPUT", "key name must be 1-64 characters of letters, digits, . _ -", "name");

  let imported;
  try {
    imported = await importCosignPrivateKey(pem, password);
  } catch (e) {
    if (!(e instanceof CosignKeyError)) throw e;
    // A wrong password and a tampered file look the same (authenticated encryption): both are the caller's input.
    throw new AppError(
      "INVALID_INPUT",
      e.reason === "WRONG_PASSWORD" ? "wrong password (or the key file was modified)" : e.message,
      e.reason === "WRONG_PASSWORD" ? "password" : "pem",
    );
  }
  if (imported.algorithm !== "ecdsa-p256") throw new AppError("INVALID_INPUT", `the key is ${imported.algorithm}; stage keys sign with ECDSA P-256`, "pem");
  if (stage.keyBackend !== "software") {
    // An imported key is a software key: silently moving a stage out of its token would downgrade key custody.
    throw new AppError(
      "POLICY_VIOLATION",
      `stage ${stage.name} keeps its keys in ${stage.keyBackend}; an imported key would be a software key. Rotate the stage to backend software first if that is intended`,
    );
  }
  if (await db.signingKey.findUnique({ where: { fingerprint: imported.fingerprint } }))
    throw new AppError("CONFLICT", "this key is already a signing key", "pem");
  if (await db.signingKey.findUnique({ where: { name: keyName } })) throw new AppError("CONFLICT", `a signing key named ${keyName} exists`, "name");

  const id = randomUUID();
  const material = {
    id,
    algorithm: imported.algorithm,
    publicKeyPem: imported.publicKeyPem,
    fingerprint: imported.fingerprint,
    encryptedPrivateKey: bytes(seal(masterKey(), Buffer.from(imported.privateKeyPem), id)),
    backend: "software" as const,
    pkcs11TokenLabel: null,
    pkcs11KeyId: null,
    imported: true,
  };
  const out = await db.$transaction((tx) => installStageKey(tx, { actor, stage, name: keyName, material, action: "key.import", backendChanged: null }));
  return out;
}

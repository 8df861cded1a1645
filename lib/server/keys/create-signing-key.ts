import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "../trust/load-trust";
import { generateKeyMaterial, type KeyBackend } from "./key-material";

export interface CreateSigningKeyOptions {
  actor: Actor;
  name: string;
  /** The stage this key signs for; null for a key not bound to a stage. */
  stageId: string | null;
  notAfter?: Date | null;
  /** software (default): generated here, sealed under the master key; pkcs11: generated inside the token. */
  backend?: KeyBackend;
  tx?: Tx;
}

export const KEY_NAME = /^[a-zA-Z0-9._-]{1,64}$/;

/** Generates an ECDSA P-256 key (on the server, or inside the PKCS#11 token) for a stage. */
export async function createSigningKey({ actor, name, stageId, notAfter = null, backend = "software", tx }: CreateSigningKeyOptions) {
  requireRole(actor, ["admin"], "creating signing keys");
  if (!KEY_NAME.test(name)) throw new AppError("INVALID_INPUT", "key name must be 1-64 characters of letters, digits, . _ -", "name");
  const check = async (t: Tx | typeof db) => {
    if (await t.signingKey.findUnique({ where: { name } })) throw new AppError("CONFLICT", `a signing key named ${name} exists`, "name");
  };
  // Refuse a duplicate before generating: a PKCS#11 key would otherwise be left behind in the token.
  await check(tx ?? db);
  const m = await generateKeyMaterial(backend, name);
  const run = async (t: Tx) => {
    await check(t);
    const key = await t.signingKey.create({ data: { ...m, name, stageId, notAfter }, omit: { encryptedPrivateKey: true } });
    await appendAuditEvent(t, {
      actor,
      action: "key.create",
      target: name,
      detail: {
        fingerprint: m.fingerprint,
        stageId,
        algorithm: m.algorithm,
        backend,
        ...(m.pkcs11TokenLabel ? { token: m.pkcs11TokenLabel, keyId: m.pkcs11KeyId } : {}),
      },
    });
    await bumpTrustState(t);
    return key;
  };
  return tx ? run(tx) : db.$transaction(run);
}

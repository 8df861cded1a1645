import "server-only";
import { randomUUID } from "node:crypto";
import { bytes, db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { generateP256 } from "../../signing/keys";
import { seal } from "../../signing/sealed";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { masterKey } from "./master-key";

export interface CreateSigningKeyOptions {
  actor: Actor;
  name: string;
  /** The stage this key signs for; null for a key not bound to a stage. */
  stageId: string | null;
  notAfter?: Date | null;
  tx?: Tx;
}

/** Generates an ECDSA P-256 key on the server and stores its private half sealed under the master key. */
export async function createSigningKey({ actor, name, stageId, notAfter = null, tx }: CreateSigningKeyOptions) {
  requireRole(actor, ["admin"], "creating signing keys");
  if (!/^[a-zA-Z0-9._-]{1,64}$/.test(name)) throw new AppError("INVALID_INPUT", "key name must be 1-64 characters of letters, digits, . _ -", "name");
  const mk = masterKey();
  const kp = generateP256();
  const id = randomUUID();
  const run = async (t: Tx) => {
    if (await t.signingKey.findUnique({ where: { name } })) throw new AppError("CONFLICT", `a signing key named ${name} exists`, "name");
    const key = await t.signingKey.create({
      data: {
        id,
        name,
        stageId,
        algorithm: kp.algorithm,
        publicKeyPem: kp.publicKeyPem,
        fingerprint: kp.fingerprint,
        encryptedPrivateKey: bytes(seal(mk, Buffer.from(kp.privateKeyPem), id)),
        notAfter,
      },
      omit: { encryptedPrivateKey: true },
    });
    await appendAuditEvent(t, { actor, action: "key.create", target: name, detail: { fingerprint: kp.fingerprint, stageId, algorithm: kp.algorithm } });
    return key;
  };
  return tx ? run(tx) : db.$transaction(run);
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { KeyFormatError, parsePublicKey } from "../../signing/keys";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

export interface AddTrustedKeyOptions {
  actor: Actor;
  name: string;
  pem: string;
}

/** Registers an outside public key (cosign.pub) as trusted. Re-adding the same key under the same name is a no-op. */
export async function addTrustedKey({ actor, name, pem }: AddTrustedKeyOptions) {
  requireRole(actor, ["admin"], "adding trusted keys");
  if (!/^[a-zA-Z0-9._-]{1,64}$/.test(name)) throw new AppError("INVALID_INPUT", "name must be 1-64 characters of letters, digits, . _ -", "name");
  let info;
  try {
    info = parsePublicKey(pem);
  } catch (e) {
    throw new AppError("INVALID_INPUT", (e as KeyFormatError).message, "pem");
  }
  return db.$transaction(async (tx) => {
    const byName = await tx.trustedKey.findUnique({ where: { name } });
    if (byName) {
      if (byName.fingerprint === info.fingerprint) return { key: byName, created: false };
      throw new AppError("CONFLICT", `trusted key ${name} exists with another key (${byName.fingerprint})`, "name");
    }
    const byFp = await tx.trustedKey.findUnique({ where: { fingerprint: info.fingerprint } });
    if (byFp) throw new AppError("CONFLICT", `this key is already trusted as ${byFp.name}`, "pem");
    const key = await tx.trustedKey.create({ data: { name, publicKeyPem: info.pem, fingerprint: info.fingerprint } });
    await appendAuditEvent(tx, { actor, action: "trust.add", target: name, detail: { fingerprint: info.fingerprint, algorithm: info.algorithm } });
    return { key, created: true };
  });
}

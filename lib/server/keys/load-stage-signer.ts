import "server-only";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { signP256 } from "../../signing/keys";
import { unseal } from "../../signing/sealed";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { masterKey } from "./master-key";

/**
 * The stage's current key: not revoked, inside its validity window, newest first. Pass the caller's transaction
 * when it holds locks: a second pooled connection inside a locked transaction can starve the pool under load.
 */
export async function findStageKey(stageId: string, at = new Date(), client: Tx | typeof db = db) {
  const key = await client.signingKey.findFirst({
    where: {
      stageId,
      revokedAt: null,
      notBefore: { lte: at },
      OR: [{ notAfter: null }, { notAfter: { gt: at } }],
    },
    orderBy: { createdAt: "desc" },
    select: { id: true, name: true, fingerprint: true },
  });
  if (!key) throw new AppError("POLICY_VIOLATION", "this stage has no valid signing key; an admin must create one");
  return key;
}

export interface SignWithKeyOptions {
  /** The caller's transaction: the key is read and the `key.use` audit event written in it. */
  tx?: Tx;
  /** Who caused the signature; with `tx`, every use of a key is audited. */
  actor?: Actor;
  /** What was signed, for the audit trail. */
  purpose?: string;
}

/** Signs with a stored key. The decrypted private key lives only for this call. */
export async function signWithKey(keyId: string, data: Uint8Array, opts: SignWithKeyOptions = {}): Promise<Buffer> {
  const client = opts.tx ?? db;
  const row = await client.signingKey.findUniqueOrThrow({ where: { id: keyId }, select: { id: true, name: true, fingerprint: true, encryptedPrivateKey: true } });
  if (!row.encryptedPrivateKey) throw new AppError("INTERNAL", `key ${row.name} has no software private key`);
  const pem = unseal(masterKey(), row.encryptedPrivateKey, row.id).toString("utf8");
  const sig = signP256(pem, data);
  if (opts.tx && opts.actor) {
    await appendAuditEvent(opts.tx, { actor: opts.actor, action: "key.use", detail: { key: row.name, fingerprint: row.fingerprint, purpose: opts.purpose ?? "signature", bytes: data.byteLength } });
  }
  return sig;
}

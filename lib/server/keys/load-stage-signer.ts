import "server-only";
import { createHash } from "node:crypto";
import { db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { unseal } from "../../signing/keys/sealed";
import { pkcs11Signer, softwareSigner } from "../../signing/keys/signer";
import type { Actor } from "../actor";
import { appendAuditEvent, recordAuditEvent, type AuditEventInput } from "../audit/append-audit-event";
import { withToken } from "./key-material";
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
      retiredAt: null,
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
  /** Who caused the signature (default: the system signer). */
  actor?: Actor;
  /** What was signed, for the audit trail. */
  purpose?: string;
  /** The digest the signature is about, for the audit trail's target. */
  targetDigest?: string;
  /**
   * With `tx`: the `key.use` event is added here instead of appended, for a caller that appends it with the other
   * events of its change in one INSERT (appendAuditEvents), in the same transaction, before it commits.
   */
  auditInto?: AuditEventInput[];
}

/** What signing needs of a key row (the sealed private key included: it is unsealed for one signature only). */
const SIGNER_COLUMNS = {
  id: true,
  name: true,
  fingerprint: true,
  backend: true,
  encryptedPrivateKey: true,
  pkcs11TokenLabel: true,
  pkcs11KeyId: true,
  revokedAt: true,
} as const;

/** A key row ready to sign with (signWithSigner), and the stage it signs for (the audit event's target). */
export type StageSigner = {
  id: string;
  name: string;
  fingerprint: string;
  backend: string;
  encryptedPrivateKey: Uint8Array | null;
  pkcs11TokenLabel: string | null;
  pkcs11KeyId: string | null;
  revokedAt: Date | null;
  stage: { name: string } | null;
};

/**
 * The stage's current key (as findStageKey chooses it) with what signing needs, in one statement: the approval's
 * transaction reads it once instead of choosing the key and then reading it again to sign.
 */
export async function findStageSigner(stage: { id: string; name: string }, at: Date, client: Tx | typeof db): Promise<StageSigner> {
  const key = await client.signingKey.findFirst({
    where: {
      stageId: stage.id,
      revokedAt: null,
      retiredAt: null,
      notBefore: { lte: at },
      OR: [{ notAfter: null }, { notAfter: { gt: at } }],
    },
    orderBy: { createdAt: "desc" },
    select: SIGNER_COLUMNS,
  });
  if (!key) throw new AppError("POLICY_VIOLATION", "this stage has no valid signing key; an admin must create one");
  return { ...key, stage: { name: stage.name } };
}

/**
 * Signs with a stored key (ECDSA P-256 / SHA-256, ASN.1 DER): a software key is decrypted for this call only; a
 * PKCS#11 key signs inside its token and never leaves it. Every use is audited as `key.use`: in the caller's
 * transaction when one is given (so it commits or rolls back with the change it serves), else on its own.
 */
export async function signWithKey(keyId: string, data: Uint8Array, opts: SignWithKeyOptions = {}): Promise<Buffer> {
  const client = opts.tx ?? db;
  const row = await client.signingKey.findUniqueOrThrow({
    where: { id: keyId },
    select: { ...SIGNER_COLUMNS, stage: { select: { name: true } } },
  });
  return signWithSigner(row, data, opts);
}

/** signWithKey with the key row already read (findStageSigner), in the caller's transaction when one is given. */
export async function signWithSigner(row: StageSigner, data: Uint8Array, opts: SignWithKeyOptions = {}): Promise<Buffer> {
  if (row.revokedAt && row.revokedAt <= new Date()) throw new AppError("POLICY_VIOLATION", `key ${row.name} is revoked`);
  let sig: Buffer;
  // Every backend is a Signer (lib/signing/keys/signer.ts): the software key is unsealed for this call only, the
  // PKCS#11 key signs inside its token.
  switch (row.backend) {
    case "pkcs11": {
      if (!row.pkcs11KeyId) throw new AppError("INTERNAL", `PKCS#11 key ${row.name} has no key id`);
      const keyId = row.pkcs11KeyId;
      sig = await withToken(async (t) => (await pkcs11Signer(t, keyId).sign(data)).signature, `signing with key ${row.name}`, row.pkcs11TokenLabel);
      break;
    }
    case "software": {
      if (!row.encryptedPrivateKey) throw new AppError("INTERNAL", `key ${row.name} has no software private key`);
      const pem = unseal(masterKey(), row.encryptedPrivateKey, row.id).toString("utf8");
      sig = (await softwareSigner(pem).sign(data)).signature;
      break;
    }
    default:
      throw new AppError("INTERNAL", `key ${row.name} has unknown backend ${row.backend}`);
  }
  const event: AuditEventInput<"key.use"> = {
    actor: opts.actor ?? { kind: "system" as const, label: "signer" },
    action: "key.use",
    targetDigest: opts.targetDigest ?? null,
    target: row.stage ? `stage ${row.stage.name}` : row.name,
    detail: {
      key: row.name,
      fingerprint: row.fingerprint,
      backend: row.backend,
      purpose: opts.purpose ?? "signature",
      bytes: data.byteLength,
      dataDigest: `sha256:${createHash("sha256").update(data).digest("hex")}`,
    },
  };
  if (opts.tx && opts.auditInto) opts.auditInto.push(event);
  else if (opts.tx) await appendAuditEvent(opts.tx, event);
  else await recordAuditEvent(event);
  return sig;
}

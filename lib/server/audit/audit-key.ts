import "server-only";
import { randomUUID } from "node:crypto";
import { bytes, db } from "../../db";
import { generateP256, parsePublicKey, signP256, verifyRaw } from "../../signing/keys/software";
import { seal, unseal } from "../../signing/keys/sealed";
import { masterKey } from "../keys/master-key";

/** The newest audit key, created (sealed under the master key) the first time a checkpoint is made. */
export async function loadAuditSigner(): Promise<{ fingerprint: string; publicKeyPem: string; sign: (data: Uint8Array) => Buffer }> {
  const mk = masterKey();
  let row = await db.auditKey.findFirst({ orderBy: { createdAt: "desc" }, omit: { encryptedPrivateKey: false } });
  if (!row) {
    const id = randomUUID();
    const kp = generateP256();
    row = await db.auditKey.upsert({
      // Two replicas racing here: the unique fingerprint makes one insert win; both then read the newest key.
      where: { fingerprint: kp.fingerprint },
      create: { id, fingerprint: kp.fingerprint, publicKeyPem: kp.publicKeyPem, encryptedPrivateKey: bytes(seal(mk, Buffer.from(kp.privateKeyPem), id)) },
      update: {},
      omit: { encryptedPrivateKey: false },
    });
    row = (await db.auditKey.findFirst({ orderBy: { createdAt: "desc" }, omit: { encryptedPrivateKey: false } })) ?? row;
  }
  const pem = unseal(mk, row.encryptedPrivateKey, row.id).toString("utf8");
  return { fingerprint: row.fingerprint, publicKeyPem: row.publicKeyPem, sign: (data) => signP256(pem, data) };
}

/**
 * The audit keys verification trusts: those whose sealed private half opens with this installation's master key and
 * belongs to the stored public key. A key inserted by someone with database access but not the master key fails here.
 */
export async function trustedAuditKeys(): Promise<{ fingerprint: string; publicKeyPem: string }[]> {
  const mk = masterKey();
  const rows = await db.auditKey.findMany({ orderBy: { createdAt: "asc" }, omit: { encryptedPrivateKey: false } });
  const out: { fingerprint: string; publicKeyPem: string }[] = [];
  for (const r of rows) {
    try {
      const pem = unseal(mk, r.encryptedPrivateKey, r.id).toString("utf8");
      const probe = Buffer.from(`audit-key-probe:${r.id}`);
      const pub = parsePublicKey(r.publicKeyPem);
      if (pub.fingerprint === r.fingerprint && verifyRaw(pub, probe, signP256(pem, probe)))
        out.push({ fingerprint: r.fingerprint, publicKeyPem: r.publicKeyPem });
    } catch {
      // Not sealed with our master key, or not a key: not trusted.
    }
  }
  return out;
}

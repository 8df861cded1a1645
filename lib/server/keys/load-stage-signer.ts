import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { signP256 } from "../../signing/keys";
import { unseal } from "../../signing/sealed";
import { masterKey } from "./master-key";

/** The stage's current key: not revoked, inside its validity window, newest first. */
export async function findStageKey(stageId: string, at = new Date()) {
  const key = await db.signingKey.findFirst({
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

/** Signs with a stored key. The decrypted private key lives only for this call. */
export async function signWithKey(keyId: string, data: Uint8Array): Promise<Buffer> {
  const row = await db.signingKey.findUniqueOrThrow({ where: { id: keyId }, select: { id: true, encryptedPrivateKey: true } });
  const pem = unseal(masterKey(), row.encryptedPrivateKey, row.id).toString("utf8");
  return signP256(pem, data);
}

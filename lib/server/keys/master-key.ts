import "server-only";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { parseMasterKey, type SealError, unseal } from "../../signing/keys/sealed";

export function masterKey(): Buffer {
  try {
    return parseMasterKey(env().IMPRIMATUR_MASTER_KEY);
  } catch (e) {
    throw new AppError("INTERNAL", (e as SealError).message);
  }
}

/**
 * Refuses to run when encrypted keys exist but the master key is missing or wrong, so a misconfigured
 * replica fails at start instead of at the first approval. Throws an Error whose message says why.
 */
export async function assertMasterKeyUsable(): Promise<void> {
  // PKCS#11 keys have no encrypted private half: only software keys depend on the master key.
  const first = await db.signingKey.findFirst({
    where: { encryptedPrivateKey: { not: null } },
    orderBy: { createdAt: "asc" },
    select: { id: true, name: true, encryptedPrivateKey: true },
  });
  if (!first?.encryptedPrivateKey) return;
  let key: Buffer;
  try {
    key = parseMasterKey(env().IMPRIMATUR_MASTER_KEY);
  } catch (e) {
    throw new Error(
      `Imprimatur refuses to start: encrypted signing keys exist in the database but ${(e as Error).message}. Set IMPRIMATUR_MASTER_KEY to the key they were encrypted with.`,
    );
  }
  try {
    unseal(key, first.encryptedPrivateKey, first.id);
  } catch {
    throw new Error(
      `Imprimatur refuses to start: IMPRIMATUR_MASTER_KEY does not decrypt signing key "${first.name}". It is not the key the signing keys were encrypted with.`,
    );
  }
}

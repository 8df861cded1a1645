import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

function validity(k: { notBefore: Date; notAfter: Date | null; revokedAt: Date | null }, now = new Date()) {
  if (k.revokedAt && k.revokedAt <= now) return "revoked";
  if (k.notBefore > now) return "not yet valid";
  if (k.notAfter && k.notAfter <= now) return "expired";
  return "valid";
}

/** Public halves only. Every signed-in role may read them: they are what outsiders verify with. */
export async function listKeys({ actor: _actor }: { actor: Actor }) {
  const [signing, trusted] = await Promise.all([
    db.signingKey.findMany({ omit: { encryptedPrivateKey: true }, include: { stage: { select: { name: true } } }, orderBy: { createdAt: "asc" } }),
    db.trustedKey.findMany({ orderBy: { createdAt: "asc" } }),
  ]);
  return {
    signingKeys: signing.map((k) => ({
      id: k.id,
      name: k.name,
      stage: k.stage?.name ?? null,
      algorithm: k.algorithm,
      fingerprint: k.fingerprint,
      publicKeyPem: k.publicKeyPem,
      notBefore: k.notBefore.toISOString(),
      notAfter: k.notAfter?.toISOString() ?? null,
      revokedAt: k.revokedAt?.toISOString() ?? null,
      status: validity(k),
    })),
    trustedKeys: trusted.map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint, publicKeyPem: k.publicKeyPem, createdAt: k.createdAt.toISOString() })),
  };
}

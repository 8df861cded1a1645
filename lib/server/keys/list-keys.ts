import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { listTrustIdentities } from "../trust/list-trust-identities";

export function keyStatus(k: { notBefore: Date; notAfter: Date | null; revokedAt: Date | null; retiredAt?: Date | null }, now = new Date()) {
  if (k.revokedAt && k.revokedAt <= now) return "revoked";
  if (k.notBefore > now) return "not yet valid";
  if (k.notAfter && k.notAfter <= now) return k.retiredAt ? "retired" : "expired";
  return "valid";
}

/** Public halves only. Every signed-in role may read them: they are what outsiders verify with. */
export async function listKeys({ actor }: { actor: Actor }) {
  const [signing, identities] = await Promise.all([
    db.signingKey.findMany({
      omit: { encryptedPrivateKey: true },
      include: { stage: { select: { name: true, position: true } } },
      orderBy: { createdAt: "asc" },
    }),
    listTrustIdentities({ actor }),
  ]);
  return {
    signingKeys: signing.map((k) => ({
      id: k.id,
      name: k.name,
      stage: k.stage?.name ?? null,
      algorithm: k.algorithm,
      fingerprint: k.fingerprint,
      publicKeyPem: k.publicKeyPem,
      backend: k.backend,
      imported: k.imported,
      pkcs11TokenLabel: k.pkcs11TokenLabel,
      notBefore: k.notBefore.toISOString(),
      notAfter: k.notAfter?.toISOString() ?? null,
      retiredAt: k.retiredAt?.toISOString() ?? null,
      revokedAt: k.revokedAt?.toISOString() ?? null,
      createdAt: k.createdAt.toISOString(),
      status: keyStatus(k),
    })),
    trustIdentities: identities,
    /** The key identities, in the shape the skeleton's API returned. */
    trustedKeys: identities
      .filter((i) => i.kind === "key")
      .map((i) => ({ id: i.id, name: i.name, fingerprint: i.fingerprint, publicKeyPem: i.publicKeyPem, role: i.role, scope: i.scope, createdAt: i.createdAt })),
  };
}

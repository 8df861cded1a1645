import "server-only";
import { db } from "../../db";
import type { TrustedKey } from "../../signing/cosign";
import { parsePublicKey } from "../../signing/keys";

/**
 * Everything a signature may be verified with: registered outside keys and the stages' own keys.
 * Stage keys are named `stage:<stage> (<key>)` so a verdict says which stage vouched.
 */
export async function loadTrustedKeys(): Promise<TrustedKey[]> {
  const [trusted, signing] = await Promise.all([
    db.trustedKey.findMany({ orderBy: { createdAt: "asc" } }),
    db.signingKey.findMany({ omit: { encryptedPrivateKey: true }, include: { stage: { select: { name: true } } }, orderBy: { createdAt: "asc" } }),
  ]);
  const out: TrustedKey[] = [];
  // Our own stage keys first: they are the ones most signatures on a promoted image are made with.
  for (const k of signing) {
    out.push({ name: k.stage ? `stage:${k.stage.name} (${k.name})` : k.name, fingerprint: k.fingerprint, key: parsePublicKey(k.publicKeyPem) });
  }
  for (const k of trusted) out.push({ name: k.name, fingerprint: k.fingerprint, key: parsePublicKey(k.publicKeyPem) });
  return out;
}

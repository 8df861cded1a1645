import "server-only";
import type { TrustedKey } from "../../signing/cosign";
import { parsePublicKey } from "../../signing/keys";
import { loadTrust } from "../trust/load-trust";

/**
 * The bare keys among the trust identities and the stage keys, for verifiers that only know keys (DSSE envelopes of
 * evidence). Stage keys are named `stage:<stage> (<key>)`. Signatures on images go through loadTrust and judgeTrust.
 */
export async function loadTrustedKeys(): Promise<TrustedKey[]> {
  const { identities } = await loadTrust();
  const out: TrustedKey[] = [];
  for (const i of identities) {
    if (i.kind !== "key" || !i.publicKeyPem || !i.fingerprint) continue;
    try {
      out.push({ name: i.name, fingerprint: i.fingerprint, key: parsePublicKey(i.publicKeyPem) });
    } catch {
      // validated when configured; an unreadable stored key can only fail to match
    }
  }
  return out;
}

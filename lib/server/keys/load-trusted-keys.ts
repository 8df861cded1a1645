import "server-only";
import type { TrustedKey } from "../../signing/formats/cosign";
import { parsePublicKey } from "../../signing/keys/software";
import { matchScope, type IdentityRole } from "../../signing/trust/identities";
import { loadTrust } from "../trust/load-trust";

/**
 * The bare keys that may vouch now, for verifiers that only know keys (DSSE envelopes of evidence): trust identities
 * and stage keys that are not revoked, inside their validity, and (when a repository is given) scoped to it. Stage keys
 * are named `stage:<stage> (<key>)`. Signatures on images go through loadTrust and judgeTrust instead.
 */
export async function loadTrustedKeys({
  repository,
  at = new Date(),
  roles,
}: { repository?: string; at?: Date; /** Only identities of these roles (evidence: builder, scanner). */ roles?: readonly IdentityRole[] } = {}): Promise<
  TrustedKey[]
> {
  const { identities } = await loadTrust();
  const out: TrustedKey[] = [];
  for (const i of identities) {
    if (i.kind !== "key" || !i.publicKeyPem || !i.fingerprint) continue;
    if (roles && !roles.includes(i.role)) continue;
    if ((i.revokedAt && i.revokedAt <= at) || (i.validFrom && i.validFrom > at) || (i.validUntil && i.validUntil <= at)) continue;
    if (repository !== undefined && !i.scope.some((p) => matchScope(p, repository))) continue;
    try {
      out.push({ name: i.name, fingerprint: i.fingerprint, key: parsePublicKey(i.publicKeyPem) });
    } catch {
      // validated when configured; an unreadable stored key can only fail to match
    }
  }
  return out;
}

import "server-only";
import type { Actor } from "../actor";
import { createTrustIdentity } from "../trust/create-trust-identity";
import type { IdentityRole } from "../../signing/trust/identities";

export interface AddTrustedKeyOptions {
  actor: Actor;
  name: string;
  pem: string;
  /** Default publisher. */
  role?: IdentityRole;
  /** Repository patterns; default every repository. */
  scope?: string[];
  /** role builder: the builder ids (patterns) its provenance may name; required for a builder. */
  builderIds?: string[];
}

/**
 * Trusts an outside public key (cosign.pub): a trust identity of kind key. Re-adding the same key under the same
 * name is a no-op. Kept for the callers that only deal with keys (seed, tests); see createTrustIdentity.
 */
export async function addTrustedKey({ actor, name, pem, role = "publisher", scope = ["**"], builderIds }: AddTrustedKeyOptions) {
  const { identity, created } = await createTrustIdentity({
    actor,
    input: { name, kind: "key", role, scope, publicKeyPem: pem, ...(builderIds ? { builderIds } : {}) },
  });
  return { key: { ...identity, fingerprint: identity.fingerprint ?? "" }, created };
}

// The contract's operations: stages and keys. Listed in operations.ts, which the OpenAPI document is built from.
import { ADMIN, type Operation } from "./operation";
import { createTrustIdentityInput, updateTrustIdentityInput } from "../../trust/trust-identity-input";
import * as s from "./schemas";

export const OPS_STAGES: readonly Operation[] = [
  { method: "GET", path: "/api/v1/stages", tag: "stages", summary: "The ordered stages with reviewer groups, approvals, waiver group, gates and key", ok: { status: 200, description: "{ stages }" } },
  { method: "GET", path: "/api/v1/stages/[name]", tag: "stages", summary: "One stage", ok: { status: 200, description: "the stage" } },
  { method: "PUT", path: "/api/v1/stages/[name]", tag: "stages", summary: "Create a stage (appended, with a new key) or update its settings", roles: ADMIN, body: s.stageBody, ok: { status: 200, description: "the stage" } },
  { method: "GET", path: "/api/v1/stages/[name]/policies", tag: "stages", summary: "The stage's admission policy for Kyverno, policy-controller or cosign (a download)", query: s.stagePolicyQuery, ok: { status: 200, description: "YAML, or a shell script for cosign", mediaType: "application/yaml" } },
  { method: "GET", path: "/api/v1/keys", tag: "keys", summary: "Signing keys, trusted keys and trust identities (public parts only)", ok: { status: 200, description: "{ keys, trustedKeys, trustIdentities }" } },
  { method: "GET", path: "/api/v1/keys/[name]", tag: "keys", summary: "A public key as cosign.pub", ok: { status: 200, description: "PEM", mediaType: "application/x-pem-file" } },
  { method: "GET", path: "/api/v1/keys/stages/[stage]", tag: "keys", summary: "A stage's key history (JSON, or ?format=pem)", query: s.keyHistoryQuery, ok: { status: 200, description: "JSON, or application/x-pem-file with format=pem" } },
  { method: "GET", path: "/api/v1/keys/stages/[stage]/preview", tag: "keys", summary: "What rotating or importing this stage's key would change: the images whose stage signature the retired key made (read-only)", roles: ADMIN, ok: { status: 200, description: "{ stage, retiring (the key a rotation retires, or null), images (what it signed), pending }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/rotate", tag: "keys", summary: "Rotate a stage's signing key", roles: ADMIN, body: s.rotateKeyBody, bodyOptional: true, ok: { status: 201, description: "{ key, retired }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/import", tag: "keys", summary: "Import an encrypted cosign private key as the stage's key", roles: ADMIN, body: s.importKeyBody, ok: { status: 201, description: "{ key, retired }" } },
  { method: "POST", path: "/api/v1/keys/stages/[stage]/revoke", tag: "keys", summary: "The stage key is compromised from effectiveAt: revoke (or dry-run) what it signed since", roles: ADMIN, body: s.revokeKeyBody, ok: { status: 200, description: "what changed (or would change)" } },
  { method: "GET", path: "/api/v1/trust", tag: "trust", summary: "Trust identities (publishers, teams, keyless signers)", ok: { status: 200, description: "{ identities }" } },
  { method: "POST", path: "/api/v1/trust", tag: "trust", summary: "Add a trust identity", roles: ADMIN, body: createTrustIdentityInput, ok: { status: 201, description: "the identity" }, alsoOk: { status: 200, description: "the same identity was already there" } },
  { method: "GET", path: "/api/v1/trust/[name]", tag: "trust", summary: "One trust identity", ok: { status: 200, description: "the identity" } },
  { method: "PATCH", path: "/api/v1/trust/[name]", tag: "trust", summary: "Update a trust identity", roles: ADMIN, body: updateTrustIdentityInput, ok: { status: 200, description: "the identity" } },
  { method: "GET", path: "/api/v1/trust/[name]/preview", tag: "trust", summary: "Which verified signatures rest on this identity, i.e. stop verifying if it is deleted (read-only)", roles: ADMIN, ok: { status: 200, description: "the identity, its signatures that rest on it, and the number of images" } },
  { method: "DELETE", path: "/api/v1/trust/[name]", tag: "trust", summary: "Delete a trust identity", roles: ADMIN, ok: { status: 200, description: "what was deleted" } },
];

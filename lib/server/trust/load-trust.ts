import "server-only";
import { db, type Tx } from "../../db";
import { loadTrustMaterial } from "../../signing/trust/judgement";
import { matchScope, type IdentityKind, type IdentityRole, type TrustIdentity } from "../../signing/trust/identities";
import type { TrustMaterial } from "../../signing/verification";
import { readJson, sigstoreThresholdsColumn } from "../json-columns";

/** Stage keys are shown and audited under this name, so a verdict says which stage vouched. */
export function stageKeyName(stage: string | null | undefined, key: string): string {
  return stage ? `stage:${stage} (${key})` : key;
}

export interface SigstoreThresholds {
  tlog?: number;
  timestamp?: number;
  ctlog?: number;
}

export interface LoadedTrust {
  /** Trust identities, then every stage key as an identity of role stage (with its validity and revocation). */
  identities: TrustIdentity[];
  material: TrustMaterial;
  /**
   * Thresholds configured on Sigstore identities, with the scope they apply to (first match wins). `stored` is the
   * column as read; it is parsed (fail closed) by thresholdsFor, so one unreadable row stops only its own scope.
   */
  sigstoreThresholds: { id: string; identity: string; scope: string[]; stored: unknown }[];
}

/**
 * The Sigstore thresholds configured for a repository, or undefined for the defaults that follow the bundle.
 * Throws JsonColumnError when the matching identity's thresholds cannot be read: never the looser defaults instead.
 */
export function thresholdsFor(trust: LoadedTrust, repository: string): SigstoreThresholds | undefined {
  const t = trust.sigstoreThresholds.find((x) => x.scope.some((p) => matchScope(p, repository)));
  return t
    ? readJson(sigstoreThresholdsColumn, t.stored, {
        table: "trust_identities",
        column: "sigstore_thresholds",
        id: t.id,
        hint: `Trust identity ${t.identity}: set its thresholds again`,
      })
    : undefined;
}

type IdentityRow = Awaited<ReturnType<typeof db.trustIdentity.findMany>>[number];

export function identityFromRow(r: IdentityRow): TrustIdentity {
  return {
    name: r.name,
    kind: r.kind as IdentityKind,
    role: r.role as IdentityRole,
    scope: r.scope,
    publicKeyPem: r.publicKeyPem,
    fingerprint: r.fingerprint,
    certificates: r.certificates,
    subject: r.subject,
    san: r.san,
    oidcIssuer: r.oidcIssuer,
    anyIdentityUnderRoot: r.anyIdentityUnderRoot,
    sigstore: r.sigstore ?? null,
    validFrom: r.validFrom,
    validUntil: r.validUntil,
    revokedAt: r.revokedAt,
  };
}

/**
 * Everything a signature may be verified with, as plain data for lib/signing: the configured trust identities and
 * the stages' own keys (any backend). A stage key is valid from not_before to not_after: a rotated key keeps
 * verifying the signatures made while it was current.
 */
export async function loadTrust(client: Tx | typeof db = db): Promise<LoadedTrust> {
  const [rows, keys] = await Promise.all([
    client.trustIdentity.findMany({ orderBy: { createdAt: "asc" } }),
    client.signingKey.findMany({ omit: { encryptedPrivateKey: true }, include: { stage: { select: { name: true } } }, orderBy: { createdAt: "asc" } }),
  ]);
  const identities: TrustIdentity[] = [
    // Our own stage keys first: most signatures on a promoted image are made with them.
    ...keys.map((k): TrustIdentity => ({
      name: stageKeyName(k.stage?.name, k.name),
      kind: "key",
      role: "stage",
      scope: ["**"],
      publicKeyPem: k.publicKeyPem,
      fingerprint: k.fingerprint,
      validFrom: k.notBefore,
      validUntil: k.notAfter,
      revokedAt: k.revokedAt,
    })),
    ...rows.map(identityFromRow),
  ];
  const sigstoreThresholds = rows
    // Thresholds are repository policy, kept even when the material is revoked: revoking must not loosen them.
    .filter((r) => r.kind === "sigstore" && r.sigstoreThresholds !== null)
    .map((r) => ({ id: r.id, identity: r.name, scope: r.scope, stored: r.sigstoreThresholds }));
  return { identities, material: loadTrustMaterial(identities), sigstoreThresholds };
}

/** Marks every stored verdict stale: the next sync re-verifies. Call it in the transaction that changes trust. */
export async function bumpTrustState(tx: Tx): Promise<void> {
  const now = new Date();
  await tx.trustState.upsert({ where: { id: 1 }, create: { id: 1, changedAt: now }, update: { changedAt: now } });
}

/**
 * When trust last changed (identities or stage keys), including the times set in advance that have since come: an
 * identity's validity beginning or ending, a revocation taking effect. A signature without a trusted time was judged
 * at the moment it was verified; once such a time passes, its stored verdict is stale though nothing was edited.
 */
export async function latestTrustChange(): Promise<Date> {
  const [row] = await db.$queryRaw<{ at: Date | null }[]>`
    SELECT GREATEST(
      (SELECT changed_at FROM trust_state WHERE id = 1),
      (SELECT max(created_at) FROM signing_keys),
      (SELECT max(revoked_at) FROM signing_keys WHERE revoked_at <= statement_timestamp()),
      (SELECT max(t) FROM trust_identities i, LATERAL (VALUES (i.valid_from), (i.valid_until), (i.revoked_at)) v(t) WHERE t <= statement_timestamp())
    ) AS at`;
  return row?.at ?? new Date(0);
}

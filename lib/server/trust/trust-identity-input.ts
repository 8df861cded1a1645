import "server-only";
import { z } from "zod";
import { IDENTITY_KINDS, IDENTITY_ROLES, matchesAnyBuilder } from "../../signing/trust/identities";
import { PATTERN_MAX } from "../../policy/gates/types";

// Repository glob: the characters of a repository name, plus * and ?.
const scopePattern = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[a-z0-9._\-/*?]+$/, "must be a repository pattern such as library/*, apps/** or **");
// Years 1 to 9999 (UTC): Postgres has no year 0, and a write of one was a 500 (found by review).
const date = z.coerce.date().refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, "must be a time from year 1 to 9999 (UTC)");
const count = z.number().int().min(0).max(10);
export const sigstoreThresholds = z.object({ tlog: count.optional(), timestamp: count.optional(), ctlog: count.optional() }).strict();

// A builder id pattern, as the provenance gate's builderIds (`*` within a path segment, `**` across): any printable text.
const builderIdPattern = z
  .string()
  .min(1)
  .max(PATTERN_MAX)
  .regex(/^[^\u0000-\u001f\u007f-\u009f]+$/, "must not contain control characters");

export const trustIdentityFields = {
  role: z.enum(IDENTITY_ROLES as [string, ...string[]]),
  scope: z.array(scopePattern).min(1, "give at least one repository pattern (** for every repository)").max(50),
  /**
   * role builder: the builder ids (glob patterns) this identity may vouch for in the provenance it signs. Required (non
   * empty) for a builder, refused on other roles; `**` vouches for any builder id and is warned about.
   */
  builderIds: z.array(builderIdPattern).max(50),
  subject: z.string().min(1).max(1024).nullable(),
  san: z.string().min(1).max(1024).nullable(),
  oidcIssuer: z.string().min(1).max(1024).nullable(),
  /**
   * kind certificate / sigstore: true trusts every certificate issued under the root (with the public Sigstore root,
   * anyone with an e-mail account). Required when there is no subject and no SAN (+ OIDC issuer for sigstore).
   */
  anyIdentityUnderRoot: z.boolean(),
  validFrom: date.nullable(),
  validUntil: date.nullable(),
};

export const createTrustIdentityInput = z
  .object({
    name: z.string().regex(/^[a-zA-Z0-9._-]{1,64}$/, "must be 1-64 characters of letters, digits, . _ -"),
    kind: z.enum(IDENTITY_KINDS as [string, ...string[]]),
    role: trustIdentityFields.role,
    scope: trustIdentityFields.scope.default(["**"]),
    builderIds: trustIdentityFields.builderIds.optional(),
    /** kind key: the public key (cosign.pub). */
    publicKeyPem: z
      .string()
      .max(64 * 1024)
      .optional(),
    /** kind certificate / tsa: one or more PEM certificates (root first or last; order does not matter). */
    certificates: z
      .string()
      .max(1024 * 1024)
      .optional(),
    /** kind sigstore: the trusted_root.json, as JSON or as its text. */
    trustedRoot: z.union([z.string().max(1024 * 1024), z.record(z.string(), z.unknown())]).optional(),
    /**
     * kind sigstore: minimum verified transparency-log entries, trusted timestamps and CT SCTs for bundles in this
     * identity's scope. Left out: the defaults that follow the bundle (a key-based bundle without a log needs none).
     */
    thresholds: sigstoreThresholds.optional(),
    subject: trustIdentityFields.subject.optional(),
    san: trustIdentityFields.san.optional(),
    oidcIssuer: trustIdentityFields.oidcIssuer.optional(),
    anyIdentityUnderRoot: trustIdentityFields.anyIdentityUnderRoot.optional(),
    validFrom: trustIdentityFields.validFrom.optional(),
    validUntil: trustIdentityFields.validUntil.optional(),
  })
  .strict();
export type CreateTrustIdentityInput = z.input<typeof createTrustIdentityInput>;

/** What may change on an identity. Its key material may not: replace the identity instead, so verdicts stay explainable. */
export const updateTrustIdentityInput = z
  .object({
    role: trustIdentityFields.role.optional(),
    scope: trustIdentityFields.scope.optional(),
    builderIds: trustIdentityFields.builderIds.optional(),
    subject: trustIdentityFields.subject.optional(),
    san: trustIdentityFields.san.optional(),
    oidcIssuer: trustIdentityFields.oidcIssuer.optional(),
    anyIdentityUnderRoot: trustIdentityFields.anyIdentityUnderRoot.optional(),
    validFrom: trustIdentityFields.validFrom.optional(),
    validUntil: trustIdentityFields.validUntil.optional(),
    thresholds: sigstoreThresholds.nullable().optional(),
    /** Effective time of a revocation (signatures with an earlier trusted time keep verifying); null un-revokes. */
    revokedAt: date.nullable().optional(),
  })
  .strict();
export type UpdateTrustIdentityInput = z.input<typeof updateTrustIdentityInput>;

/**
 * Why a certificate or Sigstore identity is broader than allowed, or null. Such an identity needs a subject, or a SAN
 * (for Sigstore with its OIDC issuer: a Fulcio SAN means nothing without the issuer that vouched for it), unless it is
 * explicitly marked as trusting any identity under its root. Keys and TSAs identify no certificate signer.
 */
export function identityBreadthProblem(i: {
  kind: string;
  subject?: string | null;
  san?: string | null;
  oidcIssuer?: string | null;
  anyIdentityUnderRoot?: boolean | null;
}): string | null {
  if (i.kind !== "certificate" && i.kind !== "sigstore") return null;
  if (i.subject) return null;
  if (i.san && (i.kind === "certificate" || i.oidcIssuer)) return null;
  if (i.anyIdentityUnderRoot) return null;
  return i.kind === "sigstore"
    ? "a sigstore identity needs a subject, or a san with its oidcIssuer; without them it trusts every certificate under the root (with the public-good root: anyone with an e-mail account). Set anyIdentityUnderRoot: true only if that is really meant"
    : "a certificate identity needs a subject or a san; without them it trusts every certificate issued under the root. Set anyIdentityUnderRoot: true only if that is really meant";
}

/**
 * Why an identity's builder ids do not fit its role, or null. Only a builder signs provenance, so only a builder may
 * carry builder ids, and a builder must name the ones it vouches for: without them it vouches for none, and a
 * builder identity whose provenance counts for no builder is a mistake rather than a choice (`**` says "any").
 */
export function builderIdsProblem(role: string, builderIds: readonly string[]): string | null {
  if (role === "builder" && builderIds.length === 0)
    return "a builder identity needs builderIds: the builder ids (patterns such as https://ci.example/*) whose provenance it may vouch for; ** for any builder";
  if (role !== "builder" && builderIds.length > 0)
    return `builderIds apply to builder identities only (this one is ${role}); give builderIds: [] to clear them`;
  return null;
}

/** The warning shown for a builder identity that vouches for any builder id, or null. */
export function builderIdsWarning(role: string, builderIds: readonly string[]): string | null {
  if (role !== "builder" || !builderIds.some(matchesAnyBuilder)) return null;
  return "vouches for any builder id: provenance it signs satisfies a stage's builder patterns whatever builder it names; narrow its builder ids to the builders it runs";
}

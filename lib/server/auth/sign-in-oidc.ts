import "server-only";
import { providerDisplayName } from "./display-name";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Role } from "../actor";
import { appendAuditEvent, recordAuditEvent } from "../audit/append-audit-event";
import { kickReevaluation, requestReevaluationForApprovers, requestReevaluationForGrantors } from "../reevaluation/enqueue-reevaluation";
import { updateUser } from "../users/update-user";

/**
 * The email_verified claim as the provider meant it: true, false, or null when it is absent or unreadable. Providers
 * differ in type (a JSON boolean per OpenID Connect Core; AWS Cognito's userinfo sends the strings "true" / "false").
 */
export function emailVerified(v: unknown): boolean | null {
  if (v === true || v === false) return v;
  if (typeof v === "string") {
    const t = v.trim().toLowerCase();
    if (t === "true") return true;
    if (t === "false") return false;
  }
  return null;
}

/** Ordered lowest to highest: when a user's groups map to several roles, the highest wins. */
const RANK: readonly Role[] = ["developer", "manager", "reviewer", "admin"];

/** Why an OpenID Connect sign-in was refused; each has a message on the sign-in page (app/signin/errors.ts). */
export type OidcRefusal = "OidcNoGroups" | "OidcNoRole" | "OidcProfile" | "OidcDisabled";

/**
 * Parses OIDC_ROLE_MAP: `group=role,group=role`. A group may appear once; every role must exist. Group names may hold
 * anything but `,` and `=` (Entra ID sends object ids, Keycloak paths like `/team/security`).
 */
export function parseRoleMap(spec: string): Map<string, Role> {
  const map = new Map<string, Role>();
  for (const part of spec.split(",")) {
    if (!part.trim()) continue;
    const eq = part.lastIndexOf("=");
    const group = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim() as Role;
    if (eq <= 0 || !group) throw new Error(`OIDC_ROLE_MAP: "${part.trim()}" is not group=role`);
    if (!RANK.includes(role)) throw new Error(`OIDC_ROLE_MAP: "${part.trim()}": role must be one of ${RANK.join(", ")}`);
    if (map.has(group)) throw new Error(`OIDC_ROLE_MAP: group "${group}" appears twice`);
    map.set(group, role);
  }
  return map;
}

/** The highest role any of the groups maps to, or null (no access). */
export function roleForGroups(groups: readonly string[], map: ReadonlyMap<string, Role>): Role | null {
  let best = -1;
  for (const g of groups) {
    const r = map.get(g);
    if (r) best = Math.max(best, RANK.indexOf(r));
  }
  return best < 0 ? null : RANK[best]!;
}

/**
 * The groups claim as a list of names, or null when it is absent or not a list of strings. Capped: a provider (or
 * whoever forged the claim set) cannot make us store thousands of memberships.
 */
export function readGroupsClaim(claims: Record<string, unknown>, claim: string): string[] | null {
  const v = claims[claim];
  const list = typeof v === "string" ? [v] : Array.isArray(v) ? v : null;
  if (!list || list.length > 1000 || !list.every((g) => typeof g === "string" && g.length > 0 && g.length <= 256 && !/[\u0000-\u001f\u007f]/.test(g))) {
    return null;
  }
  return [...new Set(list as string[])];
}

export interface SignInOidcOptions {
  /** The issuer the ID token was verified against (openid-client checked iss, aud, nonce, signature, expiry). */
  issuer: string;
  /** Verified ID token claims, merged with userinfo when the groups were only there. */
  claims: Record<string, unknown>;
  groupsClaim: string;
  roleMap: ReadonlyMap<string, Role>;
  /** Where the browser came from, for the audit trail. */
  source?: string;
}

export type SignInOidcResult = { ok: true; userId: string; role: Role; created: boolean } | { ok: false; refusal: OidcRefusal; reason: string };

/**
 * Signs in an OpenID Connect user: maps provider groups to a role (highest wins; none means no access) and to
 * Imprimatur groups of the same name, creates the user on first sign-in, and refreshes role and memberships at every
 * sign-in, so the identity provider stays the source of truth. Success and refusal are both audited (`auth.signin`,
 * method `oidc`); the user, memberships and the audit event commit together.
 */
export async function signInOidc({ issuer, claims, groupsClaim, roleMap, source }: SignInOidcOptions): Promise<SignInOidcResult> {
  const sub = typeof claims.sub === "string" && claims.sub.length <= 255 ? claims.sub : null;
  // Lower-cased as ASCII only: JavaScript's toLowerCase folds the Kelvin sign (U+212A) to "k", so
  // "\u212Aate@example.com" was stored as kate@example.com, someone else's address (found by review). Control
  // characters (a NUL), spaces and separators are refused; an internationalised address is kept as the provider sent it.
  const email =
    typeof claims.email === "string" && claims.email.length <= 254 && /^[^\s@\p{C}\p{Z}]+@[^\s@\p{C}\p{Z}]+$/u.test(claims.email)
      ? claims.email.replace(/[A-Z]/g, (c) => c.toLowerCase())
      : null;
  const label = email ?? (sub ? `oidc:${sub}` : "oidc:(no subject)");
  const refuse = async (refusal: OidcRefusal, reason: string, user?: { id: string; email: string; name: string; role: Role }): Promise<SignInOidcResult> => {
    await recordAuditEvent({
      actor: user ? { kind: "user", ...user, via: "session" } : { kind: "anonymous", label },
      action: "auth.signin",
      outcome: "failure",
      target: label,
      detail: { method: "oidc", issuer, reason, ...(source ? { source } : {}) },
    });
    return { ok: false, refusal, reason };
  };
  if (!sub) return refuse("OidcProfile", "the ID token has no subject (sub)");
  if (!email) return refuse("OidcProfile", "the identity provider sent no usable email claim (request the email scope)");
  const verified = emailVerified(claims.email_verified);
  if (verified === false) return refuse("OidcProfile", `the identity provider says ${email} is not verified`);
  const groups = readGroupsClaim(claims, groupsClaim);
  if (!groups) return refuse("OidcNoGroups", `the ${groupsClaim} claim is missing or not a list of group names`);
  const role = roleForGroups(groups, roleMap);
  const subject = `${issuer} ${sub}`;
  if (!role) {
    const reason = `none of the groups (${groups.slice(0, 20).join(", ") || "none"}) is mapped to a role in OIDC_ROLE_MAP`;
    return refuse("OidcNoRole", (await deprovisionLinked(subject, issuer)) ? `${reason}; the account linked to it is disabled` : reason);
  }

  // The account this provider subject is linked to, else the one holding the address (never one of each: the subject
  // decides whenever it is known, so an address change at the provider cannot move a linked identity to another user).
  const existing =
    (await db.user.findUnique({ where: { oidcSubject: subject }, omit: { passwordHash: true } })) ??
    (await db.user.findUnique({ where: { email }, omit: { passwordHash: true } }));
  if (existing?.oidcSubject && existing.oidcSubject !== subject) {
    return refuse("OidcProfile", `${email} is linked to another OpenID Connect account`);
  }
  // Linking an existing account by its address hands that account (its role, approvals, history) to whoever holds the
  // provider account: only when the provider vouches for the address with email_verified true. A provider that does not
  // say, or says "false" as a string (AWS Cognito's userinfo), links nothing.
  if (existing && !existing.oidcSubject && verified !== true) {
    return refuse(
      "OidcProfile",
      `${email} belongs to an existing Imprimatur account, which is linked only when the identity provider says the address is verified (email_verified: ${JSON.stringify(claims.email_verified ?? null)})`,
    );
  }
  if (existing?.disabled) {
    return refuse("OidcDisabled", "the user is disabled in Imprimatur", {
      id: existing.id,
      email: existing.email,
      name: existing.name,
      role: existing.role as Role,
    });
  }
  const result = await storeOidcSignIn({ existing, email, nameClaim: claims.name, role, subject, groups, issuer, source });
  if (result.standingChanged) await kickReevaluation();
  return { ok: true, userId: result.userId, role: result.role, created: result.created };
}

/**
 * The provider answered for a subject linked to an account here and gives it no role any more: its access was taken
 * away there, so it ends here too, as an admin's disable would (sessions end, API tokens are revoked, the waivers its
 * user granted are judged again; audited, with the provider as the actor). Without this, a user removed from every
 * mapped group at the provider kept the role, groups and tokens of the last sign-in. Only a linked account: an
 * address match proves nothing about whose account it is. Re-enabling is an admin's decision. The last enabled admin
 * is never disabled (updateUser refuses); the sign-in is still refused.
 */
async function deprovisionLinked(subject: string, issuer: string): Promise<boolean> {
  const linked = await db.user.findUnique({ where: { oidcSubject: subject }, select: { email: true, disabled: true } });
  if (!linked || linked.disabled) return false;
  try {
    await updateUser({ actor: { kind: "system", label: `OpenID Connect provider ${issuer.slice(0, 200)}` }, email: linked.email, disabled: true });
    return true;
  } catch (e) {
    if (e instanceof AppError && e.code === "CONFLICT") return false;
    throw e;
  }
}

type ExistingUser = { id: string; role: string; email: string } | null;

/**
 * The user (created or updated), its memberships as the provider's groups say, and the audit events, in one
 * transaction. `standingChanged`: an existing user's role or memberships changed (the caller nudges re-evaluation).
 */
function storeOidcSignIn({
  existing,
  email,
  nameClaim,
  role,
  subject,
  groups,
  issuer,
  source,
}: {
  existing: ExistingUser;
  email: string;
  /** The provider's `name` claim, as sent (see providerDisplayName). */
  nameClaim: unknown;
  role: Role;
  subject: string;
  groups: string[];
  issuer: string;
  source?: string;
}) {
  return db.$transaction(async (tx) => {
    const name = await providerDisplayName(tx, { claim: nameClaim, email: existing?.email ?? email, userId: existing?.id ?? null });
    const user = existing
      ? await tx.user.update({ where: { id: existing.id }, data: { role, name, oidcSubject: subject, lastSignInAt: new Date() }, omit: { passwordHash: true } })
      : // "!oidc" is no scrypt hash, so no password ever matches it: this user signs in through the provider only.
        await tx.user.create({
          data: { email, name, role, passwordHash: "!oidc", oidcSubject: subject, lastSignInAt: new Date() },
          omit: { passwordHash: true },
        });
    const matching = await tx.group.findMany({ where: { name: { in: groups } }, select: { id: true, name: true } });
    const before = await tx.groupMember.findMany({ where: { userId: user.id }, include: { group: { select: { name: true } } } });
    await tx.groupMember.deleteMany({ where: { userId: user.id, groupId: { notIn: matching.map((g) => g.id) } } });
    await tx.groupMember.createMany({ data: matching.map((g) => ({ groupId: g.id, userId: user.id })), skipDuplicates: true });
    const had = new Set(before.map((m) => m.group.name));
    const now = new Set(matching.map((g) => g.name));
    const joined = [...now].filter((g) => !had.has(g)).sort();
    const left = [...had].filter((g) => !now.has(g)).sort();
    // The provider is the source of truth for the role and groups: a change here is a change of standing, as an admin's
    // edit would be. A waiver counts only while its grantor may grant it, so the approvals it covers are judged again.
    const standingChanged = !!existing && (existing.role !== role || joined.length > 0 || left.length > 0);
    if (standingChanged) {
      await requestReevaluationForGrantors(tx, { userIds: [user.id] });
      // Likewise an approval counts towards its stage's N only while its approver may approve (approval-quorum.ts).
      await requestReevaluationForApprovers(tx, { userIds: [user.id] });
    }
    const actor = { kind: "user" as const, id: user.id, email: user.email, name: user.name, role, via: "session" as const };
    if (!existing) await appendAuditEvent(tx, { actor, action: "user.create", target: email, detail: { role, method: "oidc", issuer } });
    await appendAuditEvent(tx, {
      actor,
      action: "auth.signin",
      outcome: "success",
      target: email,
      detail: {
        method: "oidc",
        issuer,
        role,
        ...(existing && existing.role !== role ? { previousRole: existing.role } : {}),
        groups: [...now].sort(),
        joined,
        left,
        ...(source ? { source } : {}),
      },
    });
    return { ok: true as const, userId: user.id, role, created: !existing, standingChanged };
  });
}

import "server-only";
import type { Account, CallbacksOptions, LoggerInstance, Profile, User } from "next-auth";
import type { OAuthConfig } from "next-auth/providers/oauth";
import { db } from "../../db";
import { env } from "../../env";
import type { Role } from "../actor";
import { recordAuditEvent } from "../audit/append-audit-event";
import { parseRoleMap, signInOidc } from "./sign-in-oidc";

/** next-auth's provider id: the redirect URI to register is <NEXTAUTH_URL>/api/auth/callback/oidc. */
export const OIDC_PROVIDER_ID = "oidc";

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  groupsClaim: string;
  displayName: string;
  roleMap: Map<string, Role>;
}

/** The OpenID Connect settings, or null when OIDC_ISSUER / OIDC_CLIENT_ID / OIDC_CLIENT_SECRET are not all set. */
export function oidcSettings(): OidcSettings | null {
  const e = env();
  if (!e.OIDC_ISSUER || !e.OIDC_CLIENT_ID || !e.OIDC_CLIENT_SECRET) return null;
  const scopes = new Set(e.OIDC_SCOPES.split(/\s+/).filter(Boolean));
  scopes.add("openid");
  return {
    issuer: e.OIDC_ISSUER.replace(/\/+$/, ""),
    clientId: e.OIDC_CLIENT_ID,
    clientSecret: e.OIDC_CLIENT_SECRET,
    scopes: [...scopes].join(" "),
    groupsClaim: e.OIDC_GROUPS_CLAIM,
    displayName: e.OIDC_DISPLAY_NAME,
    roleMap: parseRoleMap(e.OIDC_ROLE_MAP),
  };
}

/** What the sign-in page needs to know, without secrets. */
export function signInMethods(): { oidc: { displayName: string } | null; password: boolean } {
  const s = oidcSettings();
  return { oidc: s ? { displayName: s.displayName } : null, password: env().IMPRIMATUR_PASSWORD_LOGIN };
}

type Claims = Record<string, unknown> & { sub: string };

/**
 * The next-auth provider (none when OIDC is not configured). Discovery, the authorization code flow with PKCE, state
 * and nonce; openid-client verifies the ID token's signature, issuer, audience, nonce and expiry. Groups come from the ID
 * token, or from userinfo (whose `sub` openid-client checks against the ID token's) when the ID token lacks them.
 */
export function oidcProviders(): OAuthConfig<Claims>[] {
  let s: OidcSettings | null;
  try {
    s = oidcSettings();
  } catch (e) {
    // `next build` imports this without a runtime environment; a bad role map at run time is reported by startup checks.
    if (String(e).includes("OIDC_ROLE_MAP")) throw e;
    return [];
  }
  if (!s) return [];
  const settings = s;
  return [
    {
      id: OIDC_PROVIDER_ID,
      name: settings.displayName,
      type: "oauth",
      wellKnown: `${settings.issuer}/.well-known/openid-configuration`,
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      authorization: { params: { scope: settings.scopes } },
      idToken: true,
      checks: ["pkce", "state", "nonce"],
      httpOptions: { timeout: 5000 },
      userinfo: {
        async request({ tokens, client }) {
          // Mix-up defence: the discovery document must name the issuer we were configured with.
          const discovered = String(client.issuer.metadata.issuer).replace(/\/+$/, "");
          if (discovered !== settings.issuer) throw new Error(`discovery names issuer ${discovered}, expected ${settings.issuer}`);
          // At run time this is openid-client's TokenSet (next-auth types it as plain parameters).
          const set = tokens as unknown as Parameters<typeof client.userinfo>[0] & { claims(): Claims; access_token?: string };
          const claims = set.claims();
          if (claims[settings.groupsClaim] !== undefined || !set.access_token) return claims;
          const info = (await client.userinfo(set)) as Record<string, unknown>;
          return { ...info, ...claims };
        },
      },
      profile(claims) {
        return { id: claims.sub, email: typeof claims.email === "string" ? claims.email : null, name: typeof claims.name === "string" ? claims.name : null };
      },
    },
  ];
}

function errorPage(code: string): string {
  const base = (env().NEXTAUTH_URL ?? "").replace(/\/+$/, "");
  return `${base}/signin?error=${encodeURIComponent(code)}`;
}

/**
 * Why this account may not sign in with a password here, or null: linked to the configured provider (which decides who
 * signs in as it), or password sign-in is off (IMPRIMATUR_PASSWORD_LOGIN=0) and it is not an admin.
 */
export function passwordRefusal(u: { oidcSubject: string | null; role: string }): string | null {
  const s = oidcSettings();
  if (u.oidcSubject && s)
    return `this account is linked to the identity provider (${s.displayName}), which decides who may sign in as it; passwords are refused for it`;
  if (!env().IMPRIMATUR_PASSWORD_LOGIN && u.role !== "admin") return "password sign-in is turned off (IMPRIMATUR_PASSWORD_LOGIN=0); only admins may use it";
  return null;
}

/**
 * next-auth's signIn callback. OpenID Connect: map and store the user (see signInOidc) and put our user id where the
 * jwt callback takes `sub` from. Passwords: never for an account linked to the configured provider (the provider
 * decides who signs in as it: an account it no longer knows must not keep a way in), and with IMPRIMATUR_PASSWORD_LOGIN=0
 * only for admins (the break-glass account, which must then not be linked).
 */
export const identitySignIn: CallbacksOptions["signIn"] = async ({ user, account, profile }: { user: User; account: Account | null; profile?: Profile }) => {
  if (account?.provider === OIDC_PROVIDER_ID) {
    const s = oidcSettings();
    if (!s || !profile) return errorPage("OAuthCallback");
    const r = await signInOidc({ issuer: s.issuer, claims: profile as Record<string, unknown>, groupsClaim: s.groupsClaim, roleMap: s.roleMap });
    if (!r.ok) return errorPage(r.refusal);
    // No adapter: the object handed to the jwt callback is this one, so its id becomes the session's subject.
    user.id = r.userId;
    return true;
  }
  if (account?.provider === "credentials") {
    // authenticatePassword refuses these already, as a wrong password; kept here should another path sign in.
    const u = await db.user.findUnique({ where: { id: user.id }, select: { id: true, email: true, name: true, role: true, oidcSubject: true } });
    const refusal = u ? passwordRefusal(u) : null;
    if (refusal) {
      await recordAuditEvent({
        actor: { kind: "user", id: u!.id, email: u!.email, name: u!.name, role: u!.role as Role, via: "session" },
        action: "auth.signin",
        outcome: "failure",
        target: u!.email,
        detail: { method: "password", reason: refusal },
      });
      return errorPage(u!.oidcSubject && oidcSettings() ? "PasswordLinkedAccount" : "PasswordLoginDisabled");
    }
    if (u) await db.user.update({ where: { id: u.id }, data: { lastSignInAt: new Date() } }).catch(() => {});
  }
  return true;
};

/** next-auth error codes from the OpenID Connect flow that mean a failed sign-in, audited with next-auth's reason. */
const AUDITED = new Set(["SIGNIN_OAUTH_ERROR", "OAUTH_CALLBACK_ERROR", "OAUTH_CALLBACK_HANDLER_ERROR", "OAUTH_PARSE_PROFILE_ERROR"]);

function reasonOf(metadata: unknown): string {
  const m = metadata as { error?: unknown; message?: unknown } | undefined;
  const err = m?.error instanceof Error ? m.error : metadata instanceof Error ? metadata : null;
  const msg = err ? err.message : typeof m?.message === "string" ? m.message : "unknown error";
  // openid-client wraps the cause; keep the first line, capped, and no control characters.
  return msg
    .split("\n")[0]!
    .replace(/[\u0000-\u001f\u007f]/g, " ")
    .slice(0, 300);
}

/**
 * next-auth's logger: keeps its console output and writes failed OpenID Connect sign-ins (provider down, wrong client
 * secret, an ID token with a wrong issuer, audience or nonce, a missing state cookie) to the audit trail. next-auth
 * calls it synchronously, so the write is not awaited; a failure to record is logged, never thrown at the user.
 */
export const authLogger: Partial<LoggerInstance> = {
  error(code, metadata) {
    console.error(`[next-auth][error][${code}]`, reasonOf(metadata));
    if (!AUDITED.has(code)) return;
    const issuer = (() => {
      try {
        return oidcSettings()?.issuer ?? null;
      } catch {
        return null;
      }
    })();
    recordAuditEvent({
      actor: { kind: "anonymous", label: "oidc" },
      action: "auth.signin",
      outcome: "failure",
      detail: { method: "oidc", issuer, stage: code, reason: reasonOf(metadata) },
    }).catch((e) => console.error("[auth] could not audit a failed sign-in", e));
  },
};

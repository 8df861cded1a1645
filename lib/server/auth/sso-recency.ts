import "server-only";
import { env } from "../../env";
import { oidcSettings } from "./oidc";

/**
 * Machine credentials (API tokens, client certificates) of an account linked to the identity provider outlive what
 * the provider knows: it acts only on sign-ins, so someone it has removed keeps every token they made. With
 * OIDC_TOKEN_SIGNIN_DAYS set (and a provider configured), such credentials work only while their owner has signed in
 * through the provider within that many days; one sign-in renews them all. Accounts not linked (break-glass admins,
 * service accounts made with the CLI) are not affected.
 *
 * Returns the instant the account's credentials stop working for this reason (judged on every use, as an expiry is),
 * or null when the rule does not apply.
 */
export function ssoSignInDueAt(user: { linked: boolean; lastSignInAt: Date | null }): Date | null {
  const days = env().OIDC_TOKEN_SIGNIN_DAYS;
  if (!days || !user.linked || !oidcSettings()) return null;
  return new Date((user.lastSignInAt?.getTime() ?? 0) + days * 86_400_000);
}

/** Why a credential of this account is refused at `now`, or null. */
export function ssoRecencyRefusal(dueAt: Date | null, what: string, now = Date.now()): string | null {
  if (!dueAt || dueAt.getTime() > now) return null;
  const { displayName } = oidcSettings() ?? { displayName: "the identity provider" };
  return `${what} belongs to an account linked to ${displayName}, whose owner has not signed in through it for ${env().OIDC_TOKEN_SIGNIN_DAYS} days (OIDC_TOKEN_SIGNIN_DAYS); sign in once with ${displayName} to use it again`;
}

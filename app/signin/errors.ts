/**
 * Messages for the `?error=` codes next-auth (and our signIn callback) redirect to the sign-in page with. Unknown codes
 * get a generic message; the code itself is never echoed into the page.
 */
const MESSAGES: Record<string, string> = {
  OAuthSignin:
    "The identity provider could not be reached or its discovery document is unusable. Try again later, or ask an administrator to check OIDC_ISSUER.",
  OAuthCallback:
    "The identity provider's answer could not be verified (wrong client secret, or an ID token with the wrong issuer, audience, nonce or signature, or an expired sign-in attempt). The failure has been recorded; ask an administrator to check the OpenID Connect settings.",
  Callback: "Sign-in could not be completed. The failure has been recorded.",
  OAuthCreateAccount: "Your account could not be created. The failure has been recorded.",
  OAuthAccountNotLinked: "This email is linked to another sign-in method.",
  AccessDenied: "You do not have access to Imprimatur.",
  OidcNoGroups:
    "Your identity provider did not say which groups you are in (the groups claim is missing), so Imprimatur cannot give you a role. Ask an administrator to release the groups claim to Imprimatur.",
  OidcNoRole: "You signed in, but none of your groups gives access to Imprimatur. Ask an administrator to add one of your groups to OIDC_ROLE_MAP.",
  OidcProfile: "Your identity provider sent no usable subject or verified email address, or this email belongs to another account.",
  OidcDisabled: "Your Imprimatur account is disabled. Ask an administrator to enable it.",
  PasswordLoginDisabled: "Password sign-in is turned off here; sign in with your organisation's identity provider.",
  PasswordLinkedAccount:
    "This account signs in through your organisation's identity provider, which decides who may use it; its password is not accepted. Use the single sign-on button.",
  // One answer for a wrong password and for an account that may not use one here, so that it says nothing of which.
  CredentialsSignin:
    "Wrong email or password, or this account does not sign in with a password here: accounts linked to your organisation's identity provider use the single sign-on button, and with password sign-in turned off only administrators use a password.",
  RateLimited: "Too many failed sign-ins for this account or from this address. Wait a few minutes, then try again.",
  SessionRequired: "Please sign in to see this page.",
  Configuration: "Sign-in is misconfigured on the server. The failure has been recorded.",
};

export function signInErrorMessage(code: string | undefined): string | null {
  if (!code) return null;
  return MESSAGES[code] ?? "Sign-in failed. Please try again.";
}

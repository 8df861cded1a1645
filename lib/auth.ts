import "server-only";
import type { NextAuthOptions } from "next-auth";
import { getServerSession } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import type { Actor } from "./server/actor";
import { authLogger, identitySignIn, oidcProviders } from "./server/auth/oidc";
import { actorForUserId, authenticatePassword, SigninThrottledError } from "./server/auth/authenticate";
import { clientAddress, headersFromRecord } from "./server/auth/client-address";
import { safeRedirectUrl } from "./safe-redirect";

// Sessions are signed, encrypted JWT cookies (next-auth "jwt" strategy): no server-side session store, so
// any number of replicas can serve any request. The JWT carries only the user id; the role is re-read
// from Postgres on every request (see getActor), so a demotion takes effect at once.
export const authOptions: NextAuthOptions = {
  session: { strategy: "jwt", maxAge: 12 * 60 * 60 },
  // Errors (a refused OpenID Connect sign-in, a provider that is down) land on the sign-in page as ?error=<code>.
  pages: { signIn: "/signin", error: "/signin" },
  logger: authLogger,
  providers: [
    CredentialsProvider({
      name: "Email and password",
      credentials: { email: { label: "Email", type: "email" }, password: { label: "Password", type: "password" } },
      async authorize(credentials, req) {
        const email = typeof credentials?.email === "string" ? credentials.email : "";
        const password = typeof credentials?.password === "string" ? credentials.password : "";
        if (!email || !password || password.length > 1024) return null;
        // The real TCP peer (or what a trusted proxy forwarded), never the client's own X-Forwarded-For.
        const source = clientAddress(headersFromRecord(req?.headers as Record<string, unknown> | undefined));
        try {
          const user = await authenticatePassword(email, password, source);
          return user ? { id: user.id } : null;
        } catch (e) {
          // next-auth copies a thrown error's message into the redirect URL: only our own codes go there.
          if (e instanceof SigninThrottledError) throw new Error("RateLimited");
          console.error("[auth] sign-in failed", e);
          throw new Error("CredentialsSignin");
        }
      },
    }),
    ...oidcProviders(),
  ],
  callbacks: {
    signIn: identitySignIn,
    // Only same-origin paths and URLs are followed after sign-in or sign-out (see lib/safe-redirect.ts).
    async redirect({ url, baseUrl }) {
      return safeRedirectUrl(url, baseUrl);
    },
    async jwt({ token, user }) {
      // At sign-in only: the user and when they signed in (ms), which a password reset or disable can end.
      if (user) Object.assign(token, { sub: user.id, signedInAt: Date.now() });
      return token;
    },
    async session({ session, token }) {
      // A cookie from before signedInAt existed counts as signed in at 0: ended by any reset since.
      const signedInAt = typeof token.signedInAt === "number" ? token.signedInAt : 0;
      const actor = token.sub ? await actorForUserId(token.sub, "session", signedInAt) : null;
      if (actor?.kind === "user") session.user = { name: actor.name, email: actor.email };
      return Object.assign(session, { uid: actor ? token.sub : undefined });
    },
  },
};

/** The signed-in user with the role Postgres holds now, or null. */
export async function getActor(): Promise<Actor | null> {
  const session = (await getServerSession(authOptions)) as { uid?: string } | null;
  return session?.uid ? actorForUserId(session.uid, "session") : null;
}

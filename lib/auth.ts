import "server-only";
import type { NextAuthOptions } from "next-auth";
import { getServerSession } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import type { Actor } from "./server/actor";
import { actorForUserId, authenticatePassword } from "./server/auth/authenticate";
import { authLogger, identitySignIn, oidcProviders } from "./server/auth/oidc";

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
        const ip = (req?.headers?.["x-forwarded-for"] as string | undefined)?.split(",")[0]?.trim() ?? "local";
        const user = await authenticatePassword(email, password, `web ${ip}`);
        return user ? { id: user.id } : null;
      },
    }),
    ...oidcProviders(),
  ],
  callbacks: {
    signIn: identitySignIn,
    async jwt({ token, user }) {
      if (user) token.sub = user.id;
      return token;
    },
    async session({ session, token }) {
      const actor = token.sub ? await actorForUserId(token.sub, "session") : null;
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

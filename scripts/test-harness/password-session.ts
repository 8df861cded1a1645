// Password sessions for tests of who may act under a password (temporary passwords, password lineage): a sign-in as
// the web form does it, and the self-service password change over HTTP from that session.
import { encode } from "next-auth/jwt";
import { actorForUserId, authenticatePassword } from "../../lib/server/auth/authenticate";
import { callRoute, type DiscoveredRoute } from "./routes";

/** Signs in with a password as the web form does, and returns the session's actor, the user's id and when. */
export async function signInWithPassword(email: string, password: string) {
  const ok = await authenticatePassword(email, password, "127.0.0.1");
  if (!ok) throw new Error(`sign-in of ${email} failed`);
  const signedInAt = Date.now();
  const actor = await actorForUserId(ok.id, "session", signedInAt);
  if (!actor) throw new Error(`no session actor for ${email}`);
  return { actor, id: ok.id, signedInAt };
}

/** POST /api/v1/account/password with a session cookie, from our own origin. */
export async function changePasswordOverHttp(routes: DiscoveredRoute[], userId: string, body: object) {
  const cookie = await encode({ token: { sub: userId, signedInAt: Date.now() }, secret: process.env.NEXTAUTH_SECRET! });
  const handler = routes.find((r) => r.template === "/api/v1/account/password")!.methods.POST!;
  return callRoute(handler, {
    method: "POST",
    template: "/api/v1/account/password",
    body,
    headers: { cookie: `next-auth.session-token=${cookie}`, origin: "http://localhost", "sec-fetch-site": "same-origin", host: "localhost" },
  });
}

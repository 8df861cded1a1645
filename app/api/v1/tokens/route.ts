import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { createTokenBody } from "@/lib/server/http/contract/schemas";
import { createToken } from "@/lib/server/tokens/create-token";
import { listTokens } from "@/lib/server/tokens/list-tokens";

export const dynamic = "force-dynamic";

/** GET /api/v1/tokens: your tokens (admins: everyone's), never their secrets. */
export const GET = apiHandler(async ({ actor }) => ({ tokens: await listTokens({ actor }) }));

/** POST /api/v1/tokens {scopes, expires?, name?, email?}: the token is in the answer once. A token needs scope admin to call this. */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, createTokenBody);
  const email = b.email ?? (actor.kind === "user" ? actor.email : "");
  return created(await createToken({ actor, email, name: b.name ?? "api", scopes: b.scopes, expires: b.expires }));
});

import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { parseQuery } from "@/lib/server/http/parse-query";
import { grantWaiverBody, listWaiversQuery } from "@/lib/server/http/contract/schemas";
import { grantWaiver } from "@/lib/server/waivers/grant-waiver";
import { listWaivers } from "@/lib/server/waivers/list-waivers";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ req, actor }) => ({
  waivers: await listWaivers({ actor, stage: parseQuery(req.nextUrl.searchParams, listWaiversQuery).stage }),
}));

/** POST /api/v1/waivers: a member of the stage's waiver group waives a gate (or CVE ids) for a digest or repository until expiresAt. */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, grantWaiverBody);
  return created(await grantWaiver({ actor, ...b, digest: b.digest ?? null, expiresAt: new Date(b.expiresAt) }));
});

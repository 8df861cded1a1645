import { apiHandler } from "@/lib/server/http/api-handler";
import { listImages } from "@/lib/server/images/list-images";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ req, actor }) => {
  const sp = req.nextUrl.searchParams;
  return { repositories: await listImages({ actor, registry: sp.get("registry"), q: sp.get("q") ?? undefined }) };
});

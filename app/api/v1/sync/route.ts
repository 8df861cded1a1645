import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { syncRegistry } from "@/lib/server/images/sync-registry";

export const dynamic = "force-dynamic";

const body = z.object({ registry: z.string().min(1).max(100).optional() }).strict();

export const POST = apiHandler(async ({ req, actor }) => {
  const b = req.headers.get("content-length") === "0" ? {} : await parseBody(req, body);
  return syncRegistry({ actor, registry: b.registry });
});

import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { syncBody } from "@/lib/server/http/contract/schemas";
import { enqueueSync } from "@/lib/server/jobs/enqueue-sync";
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";

/** Queues a sync; poll GET /api/v1/sync-runs/{id} for progress. */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = req.headers.get("content-length") === "0" ? {} : await parseBody(req, syncBody);
  const run = await enqueueSync({ actor, registry: b.registry, trigger: "manual" });
  return NextResponse.json(run, { status: 202 });
});

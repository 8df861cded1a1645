import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { enqueueSync } from "@/lib/server/jobs/enqueue-sync";
import { NextResponse } from "next/server";

export const dynamic = "force-dynamic";

const body = z.object({ registry: z.string().min(1).max(100).optional() }).strict();

/** Queues a sync; poll GET /api/v1/sync-runs/{id} for progress. */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = req.headers.get("content-length") === "0" ? {} : await parseBody(req, body);
  const run = await enqueueSync({ actor, registry: b.registry, trigger: "manual" });
  return NextResponse.json(run, { status: 202 });
});

import { NextResponse } from "next/server";
import { apiHandler } from "@/lib/server/http/api-handler";
import { enqueueSync } from "@/lib/server/jobs/enqueue-sync";

export const dynamic = "force-dynamic";

export const POST = apiHandler<{ name: string }>(async ({ actor, params }) =>
  NextResponse.json(await enqueueSync({ actor, registry: params.name, trigger: "manual" }), { status: 202 }),
);

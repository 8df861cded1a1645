import { AppError } from "@/lib/errors";
import { db } from "@/lib/db";
import { apiHandler } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ id: string }>(async ({ params }) => {
  if (!/^[0-9a-f-]{36}$/.test(params.id)) throw new AppError("INVALID_INPUT", "not a sync run id", "id");
  const run = await db.syncRun.findUnique({ where: { id: params.id }, include: { registry: { select: { name: true } } } });
  if (!run) throw new AppError("NOT_FOUND", "no such sync run");
  return { ...run, registry: run.registry.name };
});

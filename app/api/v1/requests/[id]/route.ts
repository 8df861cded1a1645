import { z } from "zod";
import { AppError } from "@/lib/errors";
import { apiHandler } from "@/lib/server/http/api-handler";
import { getRequest } from "@/lib/server/promotions/get-request";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ id: string }>(async ({ actor, params }) => {
  if (!z.uuid().safeParse(params.id).success) throw new AppError("NOT_FOUND", "no such promotion request");
  return getRequest({ actor, requestId: params.id });
});

import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { getStage, upsertStage } from "@/lib/server/stages/manage-stage";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ name: string }>(async ({ params }) => getStage({ name: params.name }));

const body = z
  .object({
    requiredApprovals: z.number().int().min(1).max(50).optional(),
    reviewerGroups: z.array(z.string().min(1).max(64)).max(20).optional(),
    waiverGroup: z.string().min(1).max(64).nullable().optional(),
    gates: z.unknown().optional(),
    emitBundle: z.boolean().optional(),
    approvalTtlDays: z.number().int().min(1).max(3650).nullable().optional(),
    onRegression: z.enum(["flag", "revoke-after"]).optional(),
    regressionGraceHours: z.number().int().min(0).max(24 * 365).optional(),
  })
  .strict();

/** PUT /api/v1/stages/{name}: create the stage (appended, with a new key) or update its settings. */
export const PUT = apiHandler<{ name: string }>(
  async ({ req, actor, params }) => {
    const b = await parseBody(req, body);
    return upsertStage({ actor, name: params.name, settings: b });
  },
  { roles: ["admin"], what: "configuring stages" },
);

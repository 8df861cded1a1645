import { z } from "zod";
import { db } from "@/lib/db";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { setNamespacePolicy } from "@/lib/server/admission/review-images";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async () => {
  const rows = await db.namespacePolicy.findMany({ include: { stage: { select: { name: true } } }, orderBy: { namespace: "asc" } });
  return { namespaces: rows.map((r) => ({ namespace: r.namespace, stage: r.stage?.name ?? null, exempt: r.exempt, updatedAt: r.updatedAt })) };
});

const body = z.object({ namespace: z.string().min(1).max(253), stage: z.string().min(1).max(64).nullable().optional(), exempt: z.boolean().optional() }).strict();

export const PUT = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, body);
    const row = await setNamespacePolicy({ actor, namespace: b.namespace, stage: b.stage ?? null, exempt: b.exempt });
    return { namespace: row.namespace, exempt: row.exempt, stage: b.stage ?? null };
  },
  { roles: ["admin"], what: "setting admission policies" },
);

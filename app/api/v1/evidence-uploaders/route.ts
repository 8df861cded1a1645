import { z } from "zod";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { listEvidenceUploaders } from "@/lib/server/evidence/list-evidence-uploaders";
import { setEvidenceUploaders } from "@/lib/server/evidence/set-evidence-uploaders";

export const dynamic = "force-dynamic";

/** GET /api/v1/evidence-uploaders: which group's members may attach evidence to which repositories. */
export const GET = apiHandler(async ({ actor }) => ({ rules: await listEvidenceUploaders({ actor }) }));

const body = z
  .object({
    rules: z
      .array(
        z
          .object({
            pattern: z.string().min(1).max(255).regex(/^[a-z0-9._\-/*?]+$/, "must be a repository pattern such as apps/*, team/** or **"),
            group: z.string().min(1).max(100),
          })
          .strict(),
      )
      .max(200),
  })
  .strict();

/** PUT /api/v1/evidence-uploaders with {rules: [{pattern, group}]}: replaces the rules (admin). */
export const PUT = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, body);
  return setEvidenceUploaders({ actor, rules: b.rules });
});

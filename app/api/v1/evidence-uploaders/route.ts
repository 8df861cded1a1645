import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { evidenceUploadersBody } from "@/lib/server/http/contract/schemas";
import { listEvidenceUploaders } from "@/lib/server/evidence/list-evidence-uploaders";
import { setEvidenceUploaders } from "@/lib/server/evidence/set-evidence-uploaders";

export const dynamic = "force-dynamic";

/** GET /api/v1/evidence-uploaders: which group's members may attach evidence to which repositories. */
export const GET = apiHandler(async ({ actor }) => ({ rules: await listEvidenceUploaders({ actor }) }));

/** PUT /api/v1/evidence-uploaders with {rules: [{pattern, group}]}: replaces the rules (admin). */
export const PUT = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, evidenceUploadersBody);
  return setEvidenceUploaders({ actor, rules: b.rules });
});

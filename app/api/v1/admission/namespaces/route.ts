import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { namespacePolicyBody } from "@/lib/server/http/contract/schemas";
import { listNamespacePolicies } from "@/lib/server/namespaces/list-namespace-policies";
import { setNamespacePolicy } from "@/lib/server/admission/review-images";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ namespaces: await listNamespacePolicies({ actor }) }));

export const PUT = apiHandler(
  async ({ req, actor }) => {
    const b = await parseBody(req, namespacePolicyBody);
    const row = await setNamespacePolicy({ actor, namespace: b.namespace, stage: b.stage ?? null, exempt: b.exempt });
    return { namespace: row.namespace, exempt: row.exempt, stage: b.stage ?? null };
  },
  { roles: ["admin"], what: "setting admission policies" },
);

import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { getTrustIdentity } from "@/lib/server/trust/get-trust-identity";
import { deleteTrustIdentity } from "@/lib/server/trust/delete-trust-identity";
import { summarizeIdentity } from "@/lib/server/trust/summarize-identity";
import { updateTrustIdentityInput } from "@/lib/server/trust/trust-identity-input";
import { updateTrustIdentity } from "@/lib/server/trust/update-trust-identity";

export const dynamic = "force-dynamic";

type P = { name: string };

export const GET = apiHandler<P>(async ({ actor, params }) => getTrustIdentity({ actor, name: params.name }));

export const PATCH = apiHandler<P>(
  async ({ req, actor, params }) =>
    summarizeIdentity(await updateTrustIdentity({ actor, name: params.name, input: await parseBody(req, updateTrustIdentityInput) })),
  { roles: ["admin"], what: "managing trust identities" },
);

export const DELETE = apiHandler<P>(async ({ actor, params }) => deleteTrustIdentity({ actor, name: params.name }), {
  roles: ["admin"],
  what: "managing trust identities",
});

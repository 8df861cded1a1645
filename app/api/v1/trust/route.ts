import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { createTrustIdentity } from "@/lib/server/trust/create-trust-identity";
import { listTrustIdentities } from "@/lib/server/trust/list-trust-identities";
import { summarizeIdentity } from "@/lib/server/trust/summarize-identity";
import { createTrustIdentityInput } from "@/lib/server/trust/trust-identity-input";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => ({ identities: await listTrustIdentities({ actor }) }));

export const POST = apiHandler(
  async ({ req, actor }) => {
    const { identity, created: isNew } = await createTrustIdentity({ actor, input: await parseBody(req, createTrustIdentityInput) });
    return isNew ? created(summarizeIdentity(identity)) : summarizeIdentity(identity);
  },
  { roles: ["admin"], what: "managing trust identities" },
);

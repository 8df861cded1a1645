import { db } from "@/lib/db";
import { AppError } from "@/lib/errors";
import { apiHandler, parseBody } from "@/lib/server/http/api-handler";
import { deleteTrustIdentity } from "@/lib/server/trust/delete-trust-identity";
import { summarizeIdentity } from "@/lib/server/trust/summarize-identity";
import { updateTrustIdentityInput } from "@/lib/server/trust/trust-identity-input";
import { updateTrustIdentity } from "@/lib/server/trust/update-trust-identity";

export const dynamic = "force-dynamic";

type P = { name: string };

export const GET = apiHandler<P>(async ({ params }) => {
  const row = await db.trustIdentity.findUnique({ where: { name: params.name } });
  if (!row) throw new AppError("NOT_FOUND", `no trust identity ${params.name}`);
  return summarizeIdentity(row);
});

export const PATCH = apiHandler<P>(
  async ({ req, actor, params }) => summarizeIdentity(await updateTrustIdentity({ actor, name: params.name, input: await parseBody(req, updateTrustIdentityInput) })),
  { roles: ["admin"], what: "managing trust identities" },
);

export const DELETE = apiHandler<P>(async ({ actor, params }) => deleteTrustIdentity({ actor, name: params.name }), { roles: ["admin"], what: "managing trust identities" });

import { apiHandler } from "@/lib/server/http/api-handler";
import { listKeys } from "@/lib/server/keys/list-keys";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ actor }) => {
  const { signingKeys, trustedKeys, trustIdentities } = await listKeys({ actor });
  return { keys: signingKeys, trustedKeys, trustIdentities };
});

import { apiHandler } from "@/lib/server/http/api-handler";
import { exportPublicKey } from "@/lib/server/keys/export-key-history";

export const dynamic = "force-dynamic";

/** The public key as cosign.pub, for `cosign verify --key`. */
export const GET = apiHandler<{ name: string }>(async ({ actor, params }) => {
  const k = await exportPublicKey({ actor, name: params.name });
  return new Response(k.pem, {
    headers: { "content-type": "application/x-pem-file", "content-disposition": `attachment; filename="${k.filename}"`, "cache-control": "no-store" },
  });
});

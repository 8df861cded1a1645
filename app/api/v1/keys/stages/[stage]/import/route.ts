import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { importKeyBody } from "@/lib/server/http/contract/schemas";
import { importSigningKey } from "@/lib/server/keys/import-signing-key";

export const dynamic = "force-dynamic";

/** Imports an encrypted cosign private key as the stage's current key. The password is used once and not stored. */
export const POST = apiHandler<{ stage: string }>(
  async ({ req, actor, params }) => {
    const input = await parseBody(req, importKeyBody);
    const { key, retired } = await importSigningKey({ actor, stage: params.stage, ...input });
    return created({
      key: { name: key.name, fingerprint: key.fingerprint, imported: true, publicKeyPem: key.publicKeyPem },
      retired: retired.map((k) => k.name),
    });
  },
  { roles: ["admin"], what: "importing signing keys" },
);

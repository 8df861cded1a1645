import { z } from "zod";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { importSigningKey } from "@/lib/server/keys/import-signing-key";

export const dynamic = "force-dynamic";

const body = z.object({ pem: z.string().min(1).max(64 * 1024), password: z.string().max(1024), name: z.string().max(64).optional() }).strict();

/** Imports an encrypted cosign private key as the stage's current key. The password is used once and not stored. */
export const POST = apiHandler<{ stage: string }>(
  async ({ req, actor, params }) => {
    const input = await parseBody(req, body);
    const { key, retired } = await importSigningKey({ actor, stage: params.stage, ...input });
    return created({ key: { name: key.name, fingerprint: key.fingerprint, imported: true, publicKeyPem: key.publicKeyPem }, retired: retired.map((k) => k.name) });
  },
  { roles: ["admin"], what: "importing signing keys" },
);

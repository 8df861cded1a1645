import { z } from "zod";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { rotateStageKey } from "@/lib/server/keys/rotate-signing-key";

export const dynamic = "force-dynamic";

const body = z.object({ name: z.string().max(64).optional(), backend: z.enum(["software", "pkcs11"]).optional() }).strict();

export const POST = apiHandler<{ stage: string }>(
  async ({ req, actor, params }) => {
    const input = await parseBody(req, body, { optional: true });
    const { key, retired } = await rotateStageKey({ actor, stage: params.stage, ...input });
    return created({ key: { name: key.name, fingerprint: key.fingerprint, backend: key.backend, publicKeyPem: key.publicKeyPem, notBefore: key.notBefore.toISOString() }, retired: retired.map((k) => k.name) });
  },
  { roles: ["admin"], what: "rotating stage keys" },
);

import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { rotateKeyBody } from "@/lib/server/http/contract/schemas";
import { rotateStageKey } from "@/lib/server/keys/rotate-signing-key";

export const dynamic = "force-dynamic";

export const POST = apiHandler<{ stage: string }>(
  async ({ req, actor, params }) => {
    const input = await parseBody(req, rotateKeyBody, { optional: true });
    const { key, retired } = await rotateStageKey({ actor, stage: params.stage, ...input });
    return created({
      key: { name: key.name, fingerprint: key.fingerprint, backend: key.backend, publicKeyPem: key.publicKeyPem, notBefore: key.notBefore.toISOString() },
      retired: retired.map((k) => k.name),
    });
  },
  { roles: ["admin"], what: "rotating stage keys" },
);

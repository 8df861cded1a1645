import { z } from "zod";
import { isDigest } from "@/lib/oci/digest";
import { isRepositoryName } from "@/lib/oci/reference";
import { apiHandler, created, parseBody } from "@/lib/server/http/api-handler";
import { grantWaiver } from "@/lib/server/waivers/grant-waiver";
import { listWaivers } from "@/lib/server/waivers/list-waivers";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ req, actor }) => ({ waivers: await listWaivers({ actor, stage: req.nextUrl.searchParams.get("stage") ?? undefined }) }));

const body = z
  .object({
    stage: z.string().min(1).max(64),
    gate: z.string().min(1).max(32),
    vulnIds: z.array(z.string().max(100)).max(200).default([]),
    registry: z.string().min(1).max(100).optional(),
    repository: z.string().refine(isRepositoryName, "not a valid repository name"),
    digest: z.string().refine(isDigest, "must be sha256:<64 lowercase hex>").nullable().optional(),
    reason: z.string().trim().min(5, "a waiver needs a reason").max(2000),
    expiresAt: z.iso.datetime({ offset: true }),
    requestId: z.uuid().optional(),
  })
  .strict();

/** POST /api/v1/waivers: a member of the stage's waiver group waives a gate (or CVE ids) for a digest or repository until expiresAt. */
export const POST = apiHandler(async ({ req, actor }) => {
  const b = await parseBody(req, body);
  return created(await grantWaiver({ actor, ...b, digest: b.digest ?? null, expiresAt: new Date(b.expiresAt) }));
});

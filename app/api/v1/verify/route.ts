import { env } from "@/lib/env";
import { evaluateImage } from "@/lib/server/admission/evaluate-image";
import { apiHandler } from "@/lib/server/http/api-handler";
import { verifyQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

/**
 * GET /api/v1/verify?image=<ref>&stage=<name> → { allowed, digest, reasons[], asOf }
 * For pipelines: may this digest enter this stage? Answered from Postgres; no registry round-trip.
 */
export const GET = apiHandler(
  async ({ req }) => {
    const { image, stage } = parseQuery(req.nextUrl.searchParams, verifyQuery);
    const v = await evaluateImage({ image, stage, refuseTags: env().VERIFY_REFUSE_TAGS });
    return { allowed: v.allowed, digest: v.digest, resolvedFromTag: v.resolvedFromTag, reasons: v.reasons, asOf: v.asOf, image: v.image, stage };
  },
  { allowClientCert: true },
);

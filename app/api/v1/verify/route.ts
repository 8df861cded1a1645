import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { evaluateImage } from "@/lib/server/admission/evaluate-image";
import { apiHandler } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

/**
 * GET /api/v1/verify?image=<ref>&stage=<name> → { allowed, digest, reasons[], asOf }
 * For pipelines: may this digest enter this stage? Answered from Postgres; no registry round-trip.
 */
export const GET = apiHandler(async ({ req }) => {
  const sp = req.nextUrl.searchParams;
  const image = sp.get("image");
  const stage = sp.get("stage");
  if (!image) throw new AppError("INVALID_INPUT", "image is required (e.g. registry.example.com/team/app@sha256:…)", "image");
  if (!stage) throw new AppError("INVALID_INPUT", "stage is required", "stage");
  const v = await evaluateImage({ image, stage, refuseTags: env().VERIFY_REFUSE_TAGS });
  return { allowed: v.allowed, digest: v.digest, resolvedFromTag: v.resolvedFromTag, reasons: v.reasons, asOf: v.asOf, image: v.image, stage };
}, { allowClientCert: true });

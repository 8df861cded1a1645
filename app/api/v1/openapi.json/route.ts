import { NextResponse } from "next/server";
import { apiHandler } from "@/lib/server/http/api-handler";
import { openApiDocument } from "@/lib/server/http/openapi/openapi-document";

/** GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the routes' zod schemas. Public and cacheable. */
export const GET = apiHandler(
  async () => NextResponse.json(openApiDocument(), { headers: { "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" } }),
  { public: true },
);

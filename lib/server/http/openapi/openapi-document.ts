import "server-only";
import { buildOpenApiDocument } from "./build-openapi";

let cached: ReturnType<typeof buildOpenApiDocument> | undefined;

/** The document, built once per process (it depends on code only, never on a request or the database). */
export function openApiDocument(): ReturnType<typeof buildOpenApiDocument> {
  return (cached ??= buildOpenApiDocument());
}

// The shape of one API operation in the contract (see operations.ts), and wording shared by the operation lists.
import type { z } from "zod";
import type { Role } from "../../actor";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface Operation {
  method: HttpMethod;
  /** The route's folder under app/, e.g. /api/v1/requests/[id] */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /**
   * How the caller authenticates: "user" (session cookie or API token; the default), "user-or-cert" (also a client
   * certificate forwarded by a trusted proxy), "registry" (the registry's webhook token), "public" (nobody).
   */
  auth?: "user" | "user-or-cert" | "registry" | "public";
  /** The roles apiHandler requires; absent: any signed-in user, the action decides (NOT_FOUND / FORBIDDEN). */
  roles?: readonly Role[];
  query?: z.ZodObject;
  /** A JSON body; or `raw` for bodies that are not one JSON document (evidence files, ZIP archives). */
  body?: z.ZodType;
  rawBody?: { mediaTypes: readonly string[]; description: string };
  /** The route reads an empty body as {} (parseBody's `optional`). */
  bodyOptional?: boolean;
  /** Path parameters that need more than "a string". */
  params?: Record<string, string>;
  ok: { status: 200 | 201 | 202; description: string; mediaType?: string };
  /** Another success status the route answers (200 for "already there", 201 for "created"). */
  alsoOk?: { status: 200 | 201; description: string };
}

export const ADMIN = ["admin"] as const;
export const IMAGE_REF =
  "the repository name, `@`, the digest, then an optional sub-resource: `team/app@sha256:…`, `…/evidence`, `…/evidence/{id}/raw`, `…/evidence-pack`";

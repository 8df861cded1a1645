import { z } from "zod";
import { AppError } from "../../errors";

/**
 * Reads a query string with a zod object schema: the one way a route reads its query, so that the same schema is
 * what the OpenAPI document describes (lib/server/http/contract). Every problem is a 422 naming its parameter.
 *
 * - An empty value (`?status=`) counts as absent, as an HTML form sends its empty fields.
 * - A parameter whose schema is an array takes every value (`?images=a&images=b`); any other known parameter given
 *   twice is refused rather than silently taking one of them.
 * - Unknown parameters are refused when the schema is `.strict()`.
 */
export function parseQuery<T extends z.ZodObject>(searchParams: URLSearchParams, schema: T): z.infer<T> {
  const shape = schema.shape as Record<string, z.ZodType>;
  const obj: Record<string, string | string[]> = {};
  for (const key of new Set(searchParams.keys())) {
    const values = searchParams.getAll(key).filter((v) => v !== "");
    if (values.length === 0) continue;
    const field = shape[key];
    if (field && isArraySchema(field)) obj[key] = values;
    // An unknown parameter is left to the schema: stripped, or refused by a strict one.
    else if (values.length > 1 && field) throw new AppError("INVALID_INPUT", `${key.slice(0, 40)}: given more than once`, key.slice(0, 40));
    else obj[key] = values[0]!;
  }
  const r = schema.safeParse(obj);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const name = (i: z.core.$ZodIssue) => (i.code === "unrecognized_keys" ? i.keys.map((k) => k.slice(0, 40)).join(", ") : i.path.map(String).join("."));
  const message = r.error.issues
    .map((i) =>
      i.code === "unrecognized_keys" ? `unknown parameter ${name(i)}; known: ${Object.keys(shape).join(", ") || "none"}` : `${name(i)}: ${i.message}`,
    )
    .join("; ");
  const field = first.code === "unrecognized_keys" ? (first.keys[0] ?? "query").slice(0, 40) : String(first.path[0] ?? "query");
  throw new AppError("INVALID_INPUT", message, field);
}

function isArraySchema(s: z.ZodType): boolean {
  let t: z.ZodType = s;
  // optional / default / nullable wrap the array; look through them.
  for (let i = 0; i < 5; i++) {
    if (t instanceof z.ZodArray) return true;
    if (t instanceof z.ZodOptional || t instanceof z.ZodDefault || t instanceof z.ZodNullable) t = t.unwrap() as z.ZodType;
    else if (t instanceof z.ZodPipe) t = t.in as z.ZodType;
    else return false;
  }
  return false;
}

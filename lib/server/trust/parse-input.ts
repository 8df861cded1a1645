import "server-only";
import type { z } from "zod";
import { AppError } from "../../errors";

/** Validates input inside a domain action (the CLI calls actions directly); every problem is listed with its field. */
export function parseInput<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`);
    throw new AppError("INVALID_INPUT", issues.join("; "), String(r.error.issues[0]?.path[0] ?? "input"));
  }
  return r.data;
}

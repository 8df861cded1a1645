import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isAppError } from "../../errors";
import { parseQuery } from "./parse-query";

const schema = z
  .object({
    view: z.enum(["inbox", "all"]).default("all"),
    limit: z.coerce.number().int().min(1).max(500).default(200),
    images: z.array(z.string().max(10)).max(3).optional(),
  })
  .strict();

function failure(qs: string, s: z.ZodObject = schema): { code: string; status: number; field?: string; message: string } {
  try {
    parseQuery(new URLSearchParams(qs), s);
  } catch (e) {
    if (isAppError(e)) return { code: e.code, status: e.status, field: e.field, message: e.message };
    throw e;
  }
  throw new Error(`parsed ${qs}`);
}

describe("parseQuery", () => {
  it("applies defaults and coercion, and reads an empty value as absent", () => {
    expect(parseQuery(new URLSearchParams("view=&limit=7"), schema)).toEqual({ view: "all", limit: 7 });
  });

  it("collects every value of an array parameter", () => {
    expect(parseQuery(new URLSearchParams("images=a&images=b"), schema).images).toEqual(["a", "b"]);
  });

  it("answers 422 naming the parameter that is out of range", () => {
    expect(failure("limit=9999")).toMatchObject({ code: "INVALID_INPUT", status: 422, field: "limit" });
    expect(failure("view=outbox")).toMatchObject({ status: 422, field: "view" });
    expect(failure("images=a&images=b&images=c&images=d")).toMatchObject({ status: 422, field: "images" });
  });

  it("refuses a known parameter given twice rather than picking one", () => {
    expect(failure("view=inbox&view=all")).toMatchObject({ status: 422, field: "view", message: "view: given more than once" });
  });

  it("refuses unknown parameters when the schema is strict, and strips them when it is not", () => {
    expect(failure("color=red")).toMatchObject({ status: 422, field: "color" });
    expect(failure("color=red").message).toContain("unknown parameter color");
    expect(parseQuery(new URLSearchParams("color=red&color=blue&view=inbox"), schema.strip())).toEqual({ view: "inbox", limit: 200 });
  });

  it("names a required parameter that is missing, with the schema's own message", () => {
    const s = z.object({ image: z.string("image is required").min(1) });
    expect(failure("", s)).toMatchObject({ status: 422, field: "image", message: "image: image is required" });
  });
});

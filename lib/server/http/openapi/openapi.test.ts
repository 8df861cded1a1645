import { readdirSync, readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { imageReviewSchema } from "../../admission/review-images";
import { evidenceQuery } from "../../evidence/get-image-evidence";
import { listImagesQuery } from "../../images/list-images";
import { createRegistryInput, updateRegistryInput } from "../../registries/registry-input";
import { createTrustIdentityInput, updateTrustIdentityInput } from "../../trust/trust-identity-input";
import { changeOwnPasswordInput } from "../../users/change-own-password";
import { OPERATIONS } from "../contract/operations";
import * as contract from "../contract/schemas";
import { buildOpenApiDocument, openApiPath } from "./build-openapi";

const root = fileURLToPath(new URL("../../../..", import.meta.url));
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** Every app/api/**\/route.ts and the HTTP methods it exports, read from the source (no Next runtime needed). */
function routeFiles(): { template: string; file: string; source: string; methods: string[] }[] {
  const dir = join(root, "app", "api");
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.split(sep).at(-1) === "route.ts")
    .map((f) => {
      const source = readFileSync(join(dir, f), "utf8");
      const methods = new Set<string>();
      for (const m of source.matchAll(/export\s+(?:const|async\s+function|function)\s+([A-Z]+)\b/g)) if (METHODS.includes(m[1]!)) methods.add(m[1]!);
      for (const m of source.matchAll(/export\s*\{([^}]*)\}/g)) {
        for (const part of m[1]!.split(",")) {
          const name = part
            .trim()
            .split(/\s+as\s+/)
            .at(-1)!
            .trim();
          if (METHODS.includes(name)) methods.add(name);
        }
      }
      return { template: `/api/${f.split(sep).slice(0, -1).join("/")}`, file: `app/api/${f.split(sep).join("/")}`, source, methods: [...methods].sort() };
    });
}

describe("OpenAPI document", () => {
  const doc = buildOpenApiDocument() as {
    paths: Record<
      string,
      Record<string, { security?: unknown[]; requestBody?: unknown; parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>
    >;
  };
  const routes = routeFiles();

  it("names every exported method of every route file under app/api, and nothing else", () => {
    const inCode = routes.flatMap((r) => r.methods.map((m) => `${m} ${r.template}`)).sort();
    const inDoc = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    expect(inCode.length).toBeGreaterThan(60);
    const docKeys = new Set(inDoc);
    const missing = inCode.filter((k) => !docKeys.has(k.replace(/ (.*)$/, (_, p: string) => ` ${openApiPath(p)}`)));
    const codeKeys = new Set(inCode.map((k) => k.replace(/ (.*)$/, (_, p: string) => ` ${openApiPath(p)}`)));
    const stale = inDoc.filter((k) => !codeKeys.has(k));
    expect(missing, "route methods missing from lib/server/http/contract/operations.ts").toEqual([]);
    expect(stale, "operations in lib/server/http/contract/operations.ts with no route file or method").toEqual([]);
  });

  it("lists each operation once", () => {
    const keys = OPERATIONS.map((o) => `${o.method} ${o.path}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    const v = new Validator();
    const r = await v.validate(structuredClone(doc));
    expect(r.errors ?? [], JSON.stringify(r.errors, null, 1)?.slice(0, 2000)).toEqual([]);
    expect(r.valid).toBe(true);
    expect(v.version).toBe("3.1");
  }, 60_000);

  it("documents a request body exactly where the route reads one, and the roles the route requires", () => {
    const problems: string[] = [];
    for (const r of routes) {
      const ops = OPERATIONS.filter((o) => o.path === r.template);
      const readsBody = /parseBody\(|readBodyCapped\(|bodyChunks\(/.test(r.source);
      const documentsBody = ops.some((o) => o.body || o.rawBody);
      if (readsBody !== documentsBody)
        problems.push(`${r.file}: ${readsBody ? "reads a body the document does not describe" : "the document describes a body the route does not read"}`);
      const routeRoles = [...r.source.matchAll(/roles:\s*\[([^\]]*)\]/g)].map((m) =>
        [...m[1]!.matchAll(/"([a-z]+)"/g)]
          .map((x) => x[1])
          .sort()
          .join(","),
      );
      const docRoles = ops.filter((o) => o.roles).map((o) => [...o.roles!].sort().join(","));
      // Routes use either literal role lists or none; the sets of role lists must agree.
      if ([...new Set(routeRoles)].sort().join(" | ") !== [...new Set(docRoles)].sort().join(" | "))
        problems.push(`${r.file}: roles in the route ${JSON.stringify(routeRoles)} vs the document ${JSON.stringify(docRoles)}`);
    }
    expect(problems).toEqual([]);
  });

  it("is generated from the very schema objects the routes parse with", () => {
    const named = new Map<unknown, string>([
      ...Object.entries(contract).map(([k, v]) => [v, k] as const),
      [imageReviewSchema, "imageReviewSchema"],
      [listImagesQuery, "parseListImagesQuery"],
      [createRegistryInput, "createRegistryInput"],
      [updateRegistryInput, "updateRegistryInput"],
      [createTrustIdentityInput, "createTrustIdentityInput"],
      [updateTrustIdentityInput, "updateTrustIdentityInput"],
      [changeOwnPasswordInput, "changeOwnPasswordInput"],
    ]);
    // Derived in the operation list from named schemas the route also uses (images: evidenceQuery + registry; users: updateUserInput.pick).
    const derived: Record<string, string[]> = {
      "GET /api/v1/images/[...ref]": ["evidenceQuery", "imageRegistryQuery"],
      "PATCH /api/v1/users/[email]": ["updateUserInput"],
    };
    const problems: string[] = [];
    for (const op of OPERATIONS) {
      const route = routes.find((r) => r.template === op.path);
      if (!route) continue; // reported by the first test
      const key = `${op.method} ${op.path}`;
      const names = derived[key] ?? [op.body, op.query].filter(Boolean).map((sch) => named.get(sch) ?? `(unnamed schema in ${key})`);
      for (const n of names)
        if (!new RegExp(`\\b${n.replace(/[()]/g, "\\$&")}\\b`).test(route.source))
          problems.push(`${route.file} does not use ${n}, which the document describes for ${op.method}`);
    }
    expect(evidenceQuery).toBeDefined();
    expect(problems).toEqual([]);
  });

  it("describes auth, the error envelope, parameters and bodies from the zod schemas", () => {
    const post = doc.paths["/api/v1/requests"]!.post as {
      security: unknown[];
      requestBody: { content: { "application/json": { schema: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean } } } };
      responses: Record<string, { content?: { "application/json": { schema: { $ref?: string } } } }>;
    };
    expect(post.security).toEqual([{ session: [] }, { bearerToken: ["request"] }]);
    const schema = post.requestBody.content["application/json"].schema;
    expect(Object.keys(schema.properties).sort()).toEqual(["digest", "note", "registry", "repository", "stage"]);
    expect(schema.required).toEqual(expect.arrayContaining(["repository", "digest", "stage"]));
    expect(schema.additionalProperties).toBe(false);
    expect(post.responses["422"]!.content!["application/json"].schema.$ref).toBe("#/components/schemas/Error");
    const list = doc.paths["/api/v1/requests"]!.get!;
    expect(list.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(["query:view", "query:status", "query:limit"]);
    expect(doc.paths["/api/v1/imagereview"]!.post!.security).toEqual([{ session: [] }, { bearerToken: ["admission"] }, { clientCertificate: [] }]);
    expect(doc.paths["/api/healthz"]!.get!.security).toEqual([]);
    expect(doc.paths["/api/v1/registries/{name}/notifications"]!.post!.security).toEqual([{ registryWebhookToken: [] }]);
    expect(doc.paths["/api/v1/images/{ref}"]!.get!.parameters!.find((p) => p.in === "path")!.name).toBe("ref");
    // Writes not listed in token-scope.ts need admin; reads need read.
    expect(doc.paths["/api/v1/webhooks"]!.post!.security).toEqual([{ session: [] }, { bearerToken: ["admin"] }]);
    expect(doc.paths["/api/v1/webhooks"]!.get!.security).toEqual([{ session: [] }, { bearerToken: ["read"] }]);
  });
});

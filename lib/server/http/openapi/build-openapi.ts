import { z } from "zod";
import { ROLE_SCOPES, requiredScopes } from "../../auth/token-scope";
import { OPERATIONS, type Operation } from "../contract/operations";

type Json = Record<string, unknown>;

/** "/api/v1/requests/[id]" → "/api/v1/requests/{id}"; a catch-all "[...ref]" becomes "{ref}" (it may hold slashes). */
export function openApiPath(template: string): string {
  return template.replace(/\[(?:\.\.\.)?([A-Za-z]+)\]/g, "{$1}");
}

function pathParams(template: string): { name: string; catchAll: boolean }[] {
  return [...template.matchAll(/\[(\.\.\.)?([A-Za-z]+)\]/g)].map((m) => ({ name: m[2]!, catchAll: Boolean(m[1]) }));
}

/** A concrete path that matches the template, to ask token-scope.ts which scopes the route needs. */
function samplePath(template: string): string {
  return template.replace(/\[(\.\.\.)?[A-Za-z]+\]/g, (_, dots: string | undefined) => (dots ? "x/y" : "x"));
}

/** JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of what a client sends: the schema's input side. */
function jsonSchema(schema: z.ZodType): Json {
  const out = z.toJSONSchema(schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as Json;
  delete out.$schema;
  return out;
}

const ERROR_ENVELOPE: Json = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: {
          type: "string",
          description: "a closed set: NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, INVALID_INPUT, BAD_REQUEST, CONFLICT, …",
          examples: ["INVALID_INPUT"],
        },
        message: { type: "string", description: "what went wrong, naming the field", examples: ["digest: must be sha256:<64 lowercase hex>"] },
        field: { type: "string", description: "the field or parameter at fault, when there is one" },
      },
    },
  },
};

const errorRef = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

/** The answers an operation documents: its success, and the error envelope for each way it can be refused. */
function responsesOf(op: Operation, auth: NonNullable<Operation["auth"]>): Json {
  const responses: Json = {
    [String(op.ok.status)]: op.ok.mediaType
      ? { description: op.ok.description, content: { [op.ok.mediaType]: {} } }
      : { description: op.ok.description, content: { "application/json": { schema: { type: "object" } } } },
  };
  if (op.alsoOk) responses[String(op.alsoOk.status)] = { description: op.alsoOk.description, content: { "application/json": { schema: { type: "object" } } } };
  if (op.query || op.body || op.rawBody || op.params) responses["422"] = errorRef("a parameter or field is invalid; the message names it");
  if (op.body || op.rawBody) {
    responses["400"] = errorRef("the body is not valid JSON (or is empty)");
    responses["413"] = errorRef("the body is over the size limit");
    responses["415"] = errorRef("the body's media type is not accepted");
  }
  if (auth !== "public") {
    responses["401"] = errorRef(auth === "registry" ? "missing or wrong webhook token" : "no session and no valid API token");
    if (auth !== "registry") responses["403"] = errorRef("the role or the token's scope does not allow this, or a cross-site request");
  }
  if (pathParams(op.path).length) responses["404"] = errorRef("no such resource, or not visible to you");
  responses.default = errorRef("any other error, in the same envelope");
  return responses;
}

function operationObject(op: Operation): Json {
  const auth = op.auth ?? "user";
  const parameters: Json[] = pathParams(op.path).map((p) => ({
    name: p.name,
    in: "path",
    required: true,
    description: op.params?.[p.name] ?? (p.catchAll ? "several path segments" : undefined),
    schema: { type: "string" },
  }));
  if (op.query) {
    const q = jsonSchema(op.query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: "query",
        required: q.required?.includes(name) && !("default" in schema) ? true : false,
        ...(description ? { description } : {}),
        schema: rest,
        ...(rest.type === "array" ? { style: "form", explode: true } : {}),
      });
    }
  }

  const responses = responsesOf(op, auth);

  const out: Json = {
    operationId: `${op.method.toLowerCase()}${openApiPath(op.path)
      .replace(/[{}]/g, "")
      .split(/[/\-.]/)
      .filter(Boolean)
      .map((w) => w[0]!.toUpperCase() + w.slice(1))
      .join("")}`,
    tags: [op.tag],
    summary: op.summary,
    responses,
  };
  if (parameters.length) out.parameters = parameters;

  const scopes = requiredScopes(op.method, samplePath(op.path));
  const lines: string[] = [];
  if (op.description) lines.push(op.description);
  if (auth === "public") {
    out.security = [];
    lines.push("No authentication.");
  } else if (auth === "registry") {
    out.security = [{ registryWebhookToken: [] }];
  } else {
    const who = op.roles
      ? `Roles: ${op.roles.join(", ")}.`
      : "Any signed-in role; the action itself answers 404 for what you cannot see and 403 for what your role cannot do.";
    lines.push(
      who,
      `API tokens need scope ${scopes.join(" or ")} (or admin). Session requests that change state must come from this origin (Origin / Sec-Fetch-Site) with an exact media type.`,
    );
    out.security = [{ session: [] }, { bearerToken: [...scopes] }, ...(auth === "user-or-cert" ? [{ clientCertificate: [] }] : [])];
    out["x-roles"] = op.roles ?? ["admin", "reviewer", "developer", "manager"];
    out["x-token-scopes"] = scopes;
  }
  out.description = lines.join("\n\n");

  if (op.body) {
    out.requestBody = { required: !op.bodyOptional, content: { "application/json": { schema: jsonSchema(op.body) } } };
  } else if (op.rawBody) {
    out.requestBody = { required: true, description: op.rawBody.description, content: Object.fromEntries(op.rawBody.mediaTypes.map((t) => [t, {}])) };
  }
  return out;
}

/** The OpenAPI 3.1 document of every route, generated from the operation list and its zod schemas. */
export function buildOpenApiDocument(opts: { serverUrl?: string; version?: string } = {}): Json {
  const paths: Record<string, Json> = {};
  for (const op of OPERATIONS) {
    const p = (paths[openApiPath(op.path)] ??= {});
    p[op.method.toLowerCase()] = operationObject(op);
  }
  const tags = [...new Set(OPERATIONS.map((o) => o.tag))].map((name) => ({ name }));
  return {
    openapi: "3.1.0",
    info: {
      title: "Imprimatur API",
      version: opts.version ?? "1",
      description: [
        "Container-image approval workflows: inventory, evidence, signature chains, promotion requests whose last approval makes the server sign the manifest digest, verify / ImageReview for admission, and a hash-chained audit trail.",
        'Every error is `{ "error": { "code", "message" } }`. Authenticate with the session cookie (the web UI) or `Authorization: Bearer <API token>`; a token carries scopes (read, evidence, request, review, admission, admin) capped by its user\'s role:',
        Object.entries(ROLE_SCOPES)
          .map(([role, sc]) => `- ${role}: ${sc.join(", ")}`)
          .join("\n"),
      ].join("\n\n"),
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    ...(opts.serverUrl ? { servers: [{ url: opts.serverUrl }] } : {}),
    tags,
    paths,
    components: {
      schemas: { Error: ERROR_ENVELOPE },
      securitySchemes: {
        session: {
          type: "apiKey",
          in: "cookie",
          name: "next-auth.session-token",
          description: "The web UI's session (`__Secure-next-auth.session-token` over https).",
        },
        bearerToken: {
          type: "http",
          scheme: "bearer",
          description: "An API token (`imprimatur token create`, or POST /api/v1/tokens). The scopes listed per operation are any-of.",
        },
        clientCertificate: {
          type: "mutualTLS",
          description: "A client certificate verified by a trusted TLS-terminating proxy and forwarded to the app (admission webhooks).",
        },
        registryWebhookToken: {
          type: "http",
          scheme: "bearer",
          description: "The registry's own notification token (POST /api/v1/registries/{name}/webhook-token).",
        },
      },
    },
  };
}

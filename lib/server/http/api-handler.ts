import "server-only";
import { NextResponse, type NextRequest } from "next/server";
import { z } from "zod";
import { getActor } from "../../auth";
import { AppError, isAppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { requireRole, type Actor, type Role } from "../actor";
import { actorForToken } from "../auth/authenticate";
import { actorForClientCert } from "../auth/client-cert";
import { stageAuditEvent } from "../audit/stage-audit-event";
import { readBodyCapped } from "./read-body";
import { assertCleanJson, assertJsonTextDepth, decodeUtf8Strict, readCleanParams } from "./hostile-input";
import { Prisma } from "../../db";

type Ctx<P> = { params: Promise<P> };

export interface HandlerArgs<P> {
  req: NextRequest;
  actor: Actor;
  params: P;
}

/**
 * The one wrapper for API routes: authenticate (Bearer token, else session cookie), check the role,
 * run the handler, and map errors to `{ error: { code, message } }`. 401 and 403 are audited.
 */
export function apiHandler<P = Record<string, never>>(
  handler: (a: HandlerArgs<P>) => Promise<Response | unknown>,
  opts: {
    roles?: readonly Role[];
    what?: string;
    /** Also accept a client certificate forwarded by a trusted proxy (see lib/server/auth/client-cert.ts). */
    allowClientCert?: boolean;
  } = {},
) {
  return async (req: NextRequest, ctx: Ctx<P>): Promise<Response> => {
    const target = `${req.method} ${req.nextUrl.pathname}`;
    let actor: Actor | null = null;
    let certAuth: Awaited<ReturnType<typeof actorForClientCert>> = null;
    try {
      const authz = req.headers.get("authorization");
      if (authz) {
        const m = /^Bearer\s+(\S+)$/i.exec(authz);
        actor = m?.[1] ? await actorForToken(m[1]) : null;
        if (!actor) {
          await stageAuditEvent({ actor: { kind: "anonymous", label: "bearer token" }, action: "request.denied", outcome: "denied", target, detail: { status: 401, reason: "invalid, expired or revoked token" } });
          return json(new AppError("UNAUTHENTICATED", "invalid, expired or revoked API token").toJSON(), 401);
        }
      } else if ((certAuth = opts.allowClientCert ? await actorForClientCert(req.headers) : null)) {
        actor = certAuth.actor;
        if (!actor) {
          await stageAuditEvent({ actor: { kind: "anonymous", label: "client certificate" }, action: "request.denied", outcome: "denied", target, detail: { status: 401, reason: certAuth.reason } });
          return json(new AppError("UNAUTHENTICATED", certAuth.reason).toJSON(), 401);
        }
      } else {
        actor = await getActor();
        if (!actor) {
          await stageAuditEvent({ actor: { kind: "anonymous", label: "anonymous" }, action: "request.denied", outcome: "denied", target, detail: { status: 401, reason: "no session or token" } });
          return json(new AppError("UNAUTHENTICATED", "sign in or send an API token (Authorization: Bearer …)").toJSON(), 401);
        }
      }
      if (opts.roles) requireRole(actor, opts.roles, opts.what ?? target);
      const out = await handler({ req, actor, params: await readCleanParams(ctx.params, req.nextUrl.searchParams) });
      return out instanceof Response ? out : json(out, 200);
    } catch (e) {
      const err =
        e instanceof OciError
          ? new AppError(e.code === "NOT_FOUND" ? "NOT_FOUND" : e.code === "INVALID_REFERENCE" ? "INVALID_INPUT" : "REGISTRY_ERROR", e.message)
          : isUniqueViolation(e)
            ? // Two requests creating the same name at once: the loser of the race gets what the pre-check would have said.
              new AppError("CONFLICT", `already exists (${uniqueFields(e)}); it was created by a concurrent request`)
            : e;
      if (isAppError(err)) {
        if (err.code === "FORBIDDEN" && actor) {
          await stageAuditEvent({ actor, action: "request.denied", outcome: "denied", target, detail: { status: 403, reason: err.message } }).catch(() => {});
        }
        return json(err.toJSON(), err.status);
      }
      console.error(`[api] ${target} failed`, e);
      return json(new AppError("INTERNAL", "internal error").toJSON(), 500);
    }
  };
}

function json(body: unknown, status: number): Response {
  return NextResponse.json(body, { status, headers: { "cache-control": "no-store" } });
}

export function created(body: unknown): Response {
  return json(body, 201);
}

/**
 * Reads a JSON body and validates it; every problem is reported with its field. With `optional`, an empty body (as
 * `curl -X POST` sends) stands for `{}`.
 */
export async function parseBody<T extends z.ZodType>(req: NextRequest, schema: T, opts: { optional?: boolean } = {}): Promise<z.infer<T>> {
  const ct = req.headers.get("content-type") ?? "";
  // Capped while streaming: a large body is refused before it is held in memory.
  const raw = decodeUtf8Strict(await readBodyCapped(req, 1024 * 1024));
  const text = opts.optional && raw.trim() === "" ? "{}" : raw;
  if (text === raw && !ct.includes("application/json")) throw new AppError("BAD_REQUEST", "send the body as application/json");
  assertJsonTextDepth(text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "body is not valid JSON");
  }
  assertCleanJson(json);
  const r = schema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new AppError("INVALID_INPUT", issues.join("; "), String(r.error.issues[0]?.path[0] ?? "body"));
  }
  return r.data;
}

function isUniqueViolation(e: unknown): e is Prisma.PrismaClientKnownRequestError {
  return e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002";
}

function uniqueFields(e: Prisma.PrismaClientKnownRequestError): string {
  const t = (e.meta as { target?: unknown; driverAdapterError?: { cause?: { constraint?: { fields?: unknown } } } } | undefined) ?? {};
  const fields = Array.isArray(t.target) ? t.target : t.driverAdapterError?.cause?.constraint?.fields;
  return Array.isArray(fields) ? fields.join(", ") : "unique value";
}

import "server-only";
import { NextResponse, type NextRequest } from "next/server";
import { type z } from "zod";
import { getActor } from "../../auth";
import { AppError, isAppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { actorLabel, requireRole, type Actor, type Role } from "../actor";
import { actorForToken } from "../auth/authenticate";
import { actorForClientCert } from "../auth/client-cert";
import { requireTokenScope, type Scope } from "../auth/token-scope";
import { clientAddress } from "../auth/client-address";
import { countAuthFailure } from "../auth/count-auth-failure";
import { stageAuditEvent } from "../audit/stage-audit-event";
import { readBodyCapped } from "./read-body";
import { registryErrorToAppError } from "../registries/registry-error";
import { checkSameOrigin, checkSameSiteRead, isEvidenceMediaType, isJsonMediaType, isStateChanging, mediaTypeEssence } from "./same-origin";
import { assertCleanJson, assertJsonTextDepth, decodeUtf8Strict, readCleanParams } from "./hostile-input";
import { Prisma } from "../../db";
import { env } from "../../env";

type Ctx<P> = { params: Promise<P> };

export interface HandlerArgs<P> {
  req: NextRequest;
  actor: Actor;
  params: P;
}

/**
 * The one wrapper for API routes: authenticate (Bearer token, else session cookie), check the role,
 * run the handler, and map errors to `{ error: { code, message } }`. A 403 is audited (the actor is known); a 401 is
 * counted per source and minute (auth_failure_counts), so an unauthenticated flood adds no audit rows.
 */
type HandlerOpts = {
  roles?: readonly Role[];
  what?: string;
  /** Also accept a client certificate forwarded by a trusted proxy (see lib/server/auth/client-cert.ts). */
  allowClientCert?: boolean;
  /** The token scope (any of several) this route needs; default by method and path, see lib/server/auth/token-scope.ts. */
  scope?: Scope | readonly Scope[];
  /**
   * The media types a cookie-authenticated body may declare: "json" (default, `application/json` exactly) or
   * "evidence" (JSON, JSON Lines, `+json` types, octet-stream). See same-origin.ts for why this matters.
   */
  bodyTypes?: "json" | "evidence" | "archive";
  /**
   * This GET writes (records an audit event, or runs heavy work in the caller's name): a cookie-authenticated GET is
   * then refused when it comes from another site's page (Sec-Fetch-Site cross-site / same-site, a foreign Origin).
   * A top-level navigation carries the Lax session cookie, so a link or `window.open` elsewhere could otherwise
   * make the request in the user's name. Our own links (same-origin), the address bar (none) and clients that send
   * no such header are allowed.
   */
  writesOnGet?: boolean;
};

/** What a `public` handler gets: no actor (the route authenticates its caller itself, or nobody needs to). */
export interface PublicHandlerArgs<P> {
  req: NextRequest;
  actor: null;
  params: P;
}

export function apiHandler<P = Record<string, never>>(
  handler: (a: HandlerArgs<P>) => Promise<Response | unknown>,
  opts?: HandlerOpts & { public?: false },
): (req: NextRequest, ctx: Ctx<P>) => Promise<Response>;
/**
 * `public: true`: no user authentication (the OpenAPI document; registry notifications, which carry the registry's
 * own webhook token that the action checks). Errors, parameters and caching are handled as for every other route.
 */
export function apiHandler<P = Record<string, never>>(
  handler: (a: PublicHandlerArgs<P>) => Promise<Response | unknown>,
  opts: { public: true },
): (req: NextRequest, ctx: Ctx<P>) => Promise<Response>;
export function apiHandler<P = Record<string, never>>(
  handler: ((a: HandlerArgs<P>) => Promise<Response | unknown>) | ((a: PublicHandlerArgs<P>) => Promise<Response | unknown>),
  opts: HandlerOpts & { public?: boolean } = {},
) {
  return async (req: NextRequest, ctx: Ctx<P>): Promise<Response> => {
    const target = `${req.method} ${req.nextUrl.pathname}`;
    let actor: Actor | null = null;
    let certAuth: Awaited<ReturnType<typeof actorForClientCert>> = null;
    try {
      const authz = req.headers.get("authorization");
      if (opts.public) {
        const out = await (handler as (a: PublicHandlerArgs<P>) => Promise<Response | unknown>)({
          req,
          actor: null,
          params: await readCleanParams(ctx.params, req.nextUrl.searchParams),
        });
        return out instanceof Response ? out : json(out, 200);
      } else if (authz) {
        const m = /^Bearer\s+(\S+)$/i.exec(authz);
        actor = m?.[1] ? await actorForToken(m[1]) : null;
        if (!actor) {
          await countAuthFailure({ source: clientAddress(req.headers), kind: "token" });
          return json(new AppError("UNAUTHENTICATED", "invalid, expired or revoked API token").toJSON(), 401);
        }
      } else if ((certAuth = opts.allowClientCert ? await actorForClientCert(req.headers) : null)) {
        actor = certAuth.actor;
        if (!actor) {
          await countAuthFailure({ source: clientAddress(req.headers), kind: "client-cert" });
          return json(new AppError("UNAUTHENTICATED", certAuth.reason).toJSON(), 401);
        }
      } else {
        actor = await getActor();
        if (!actor) {
          await countAuthFailure({ source: clientAddress(req.headers), kind: "session" });
          return json(new AppError("UNAUTHENTICATED", "sign in or send an API token (Authorization: Bearer …)").toJSON(), 401);
        }
        // The session cookie travels with requests that other sites' pages make: a state change must come from our
        // own origin and declare a media type no cross-site form can send. (Tokens and certificates do not travel.)
        const refusal = isStateChanging(req.method) ? sessionRequestRefusal(req, opts.bodyTypes ?? "json") : opts.writesOnGet ? sessionReadRefusal(req) : null;
        if (refusal) return await refuseSessionRequest(actor, target, refusal);
      }
      requireTokenScope(actor, req.method, req.nextUrl.pathname, opts.scope);
      if (opts.roles) requireRole(actor, opts.roles, opts.what ?? target);
      const out = await (handler as (a: HandlerArgs<P>) => Promise<Response | unknown>)({
        req,
        actor,
        params: await readCleanParams(ctx.params, req.nextUrl.searchParams),
      });
      if (!(out instanceof Response)) return json(out, 200);
      return markPrivate(out);
    } catch (e) {
      return errorResponse(e, actor, target);
    }
  };
}

/** Every authenticated answer is private: downloads and exports too, unless a route says otherwise. */
function markPrivate(out: Response): Response {
  if (!out.headers.has("cache-control")) {
    try {
      out.headers.set("cache-control", "no-store");
    } catch {
      // Response.redirect() and fetched responses have immutable headers; they are not ours to mark.
    }
  }
  return out;
}

/** The one place an error becomes an HTTP answer: AppErrors keep their status; anything else is a logged 500. */
async function errorResponse(e: unknown, actor: Actor | null, target: string): Promise<Response> {
  const err =
    e instanceof OciError
      ? // The one translator: a registry that is down is 503 here as in every action (it was 502 here).
        registryErrorToAppError(e)
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

/**
 * Answers a refused cookie-authenticated request. A page on another site can send these from the user's browser in a
 * loop, so cross-site refusals are counted per user and minute (auth_failure_counts, kind "cross-site") and only the
 * first of each minute becomes a request.denied audit row: the append-only trail grows by at most one row per user and
 * minute.
 */
async function refuseSessionRequest(actor: Actor, target: string, refusal: { status: number; error: AppError }): Promise<Response> {
  // Only the cross-site verdict (403) can be sent by another site's page; a wrong media type (415) is answered only
  // after the origin check passed, so it comes from our own pages or the user, and stays audited one by one.
  const crossSite = refusal.status === 403;
  const source = actor.kind === "user" ? actor.email : actorLabel(actor);
  const n = crossSite ? await countAuthFailure({ source, kind: "cross-site" }).catch(() => 1) : 1;
  if (n === 1) {
    const counted = crossSite ? "; further cross-site refusals for this user in the same minute are counted, not audited" : "";
    const detail = { status: refusal.status, reason: `${refusal.error.message}${counted}` };
    await stageAuditEvent({ actor, action: "request.denied", outcome: "denied", target, detail }).catch(() => {});
  }
  return json(refusal.error.toJSON(), refusal.status);
}

/** Why a cookie-authenticated GET that writes (`writesOnGet`) is refused: it came from another site's page. */
function sessionReadRefusal(req: NextRequest): { status: number; error: AppError } | null {
  const h = req.headers;
  const verdict = checkSameSiteRead({
    origin: h.get("origin"),
    secFetchSite: h.get("sec-fetch-site"),
    host: h.get("host"),
    appOrigin: env().NEXTAUTH_URL ?? null,
  });
  return verdict.ok ? null : { status: 403, error: new AppError("FORBIDDEN", verdict.reason) };
}

/** Why a cookie-authenticated state change is refused (cross-site, or a media type a form could send), or null. */
const ZIP_TYPES = ["application/zip", "application/x-zip-compressed"];

function sessionRequestRefusal(req: NextRequest, bodyTypes: "json" | "evidence" | "archive"): { status: number; error: AppError } | null {
  const h = req.headers;
  const verdict = checkSameOrigin({
    method: req.method,
    origin: h.get("origin"),
    secFetchSite: h.get("sec-fetch-site"),
    host: h.get("host"),
    appOrigin: env().NEXTAUTH_URL ?? null,
  });
  if (!verdict.ok) return { status: 403, error: new AppError("FORBIDDEN", verdict.reason) };
  const ct = h.get("content-type");
  const hasBody = Number(h.get("content-length") ?? "0") > 0 || h.has("transfer-encoding");
  if (ct === null && !hasBody) return null; // a body-less POST / DELETE: the origin check above is what protects it
  // "archive": JSON or a ZIP (advisory feeds). Neither is a type a cross-site form can send without a preflight.
  const accepted =
    bodyTypes === "evidence"
      ? isEvidenceMediaType(ct)
      : bodyTypes === "archive"
        ? isJsonMediaType(ct) || ZIP_TYPES.includes(mediaTypeEssence(ct) ?? "")
        : isJsonMediaType(ct);
  if (!accepted) {
    const want =
      bodyTypes === "evidence"
        ? "a JSON, JSON Lines or application/octet-stream media type"
        : bodyTypes === "archive"
          ? "Content-Type: application/json or application/zip"
          : "Content-Type: application/json";
    return {
      status: 415,
      error: new AppError(
        "UNSUPPORTED_MEDIA_TYPE",
        `send the body with ${want} (got ${ct === null ? "none" : JSON.stringify(ct.slice(0, 100))})`,
        "content-type",
      ),
    };
  }
  return null;
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
export async function parseBody<T extends z.ZodType>(
  req: NextRequest,
  schema: T,
  opts: { optional?: boolean; uncheckedPaths?: (path: readonly (string | number)[]) => boolean } = {},
): Promise<z.infer<T>> {
  const ct = req.headers.get("content-type");
  // Capped while streaming: a large body is refused before it is held in memory.
  const raw = decodeUtf8Strict(await readBodyCapped(req, 1024 * 1024));
  const text = opts.optional && raw.trim() === "" ? "{}" : raw;
  // The exact media type: `text/plain; application/json` is text/plain (a type a cross-site form can send).
  if (text === raw && !isJsonMediaType(ct)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json", "content-type");
  assertJsonTextDepth(text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "body is not valid JSON");
  }
  assertCleanJson(json, { skip: opts.uncheckedPaths });
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

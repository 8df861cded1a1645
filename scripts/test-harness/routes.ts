// Test helper for the standing security suite: finds every API route from the files themselves, calls its
// handlers the way Next does (a NextRequest, params as a promise, inside a request scope so that
// getServerSession can read headers and cookies), and snapshots the database to prove a refusal wrote nothing.
import "./next-als";
import { readdirSync } from "node:fs";
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { NextRequest } from "next/server";
import { RequestCookies } from "next/dist/compiled/@edge-runtime/cookies";
import { workAsyncStorage } from "next/dist/server/app-render/work-async-storage.external";
import { workUnitAsyncStorage } from "next/dist/server/app-render/work-unit-async-storage.external";
import { db } from "../../lib/db";

const root = fileURLToPath(new URL("../..", import.meta.url));
export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
export type Method = (typeof HTTP_METHODS)[number];
type Handler = (req: NextRequest, ctx: { params: Promise<Record<string, string | string[]>> }) => Promise<Response>;

export interface DiscoveredRoute {
  /** "/api/v1/requests/[id]" */
  template: string;
  file: string;
  methods: Partial<Record<Method, Handler>>;
}

/** Every app/api/** /route.ts and the HTTP methods it exports. */
export async function discoverRoutes(): Promise<DiscoveredRoute[]> {
  const dir = join(root, "app", "api");
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.split(sep).at(-1) === "route.ts").sort();
  const out: DiscoveredRoute[] = [];
  for (const f of files) {
    const mod = (await import(join(dir, f))) as Record<string, unknown>;
    const methods: Partial<Record<Method, Handler>> = {};
    for (const m of HTTP_METHODS) if (typeof mod[m] === "function") methods[m] = mod[m] as Handler;
    out.push({ template: `/api/${f.split(sep).slice(0, -1).join("/")}`, file: `app/api/${f.split(sep).join("/")}`, methods });
  }
  return out;
}

/** Fills "[id]" and "[...ref]" in a template; returns the path and the params Next would pass. */
export function fillTemplate(template: string, params: Record<string, string | string[]>): string {
  return template.replace(/\[(?:\.\.\.)?([a-zA-Z]+)\]/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`${template}: no value for [${name}]`);
    return Array.isArray(v) ? v.map(encodeURIComponent).join("/") : encodeURIComponent(v);
  });
}

export interface CallOptions {
  method: Method;
  template: string;
  params?: Record<string, string | string[]>;
  query?: string;
  headers?: Record<string, string>;
  /** A string or Buffer is sent as is; anything else as JSON. */
  body?: unknown;
  token?: string;
}

/** Calls a route handler as Next would, inside a request scope. */
export async function callRoute(handler: Handler, o: CallOptions): Promise<Response> {
  const params = o.params ?? {};
  const url = `http://localhost${fillTemplate(o.template, params)}${o.query ? `?${o.query}` : ""}`;
  const headers = new Headers(o.headers);
  let body: BodyInit | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === "string" ? o.body : Buffer.isBuffer(o.body) ? new Uint8Array(o.body) : JSON.stringify(o.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  if (o.token) headers.set("authorization", `Bearer ${o.token}`);
  const req = new NextRequest(url, { method: o.method, headers, body });
  return inRequestScope(req, o.template, () => handler(req, { params: Promise.resolve(params) }));
}

/**
 * The scope Next sets up around a route handler, reduced to what `headers()` / `cookies()` read, so that the
 * session path (getServerSession) runs for real instead of throwing "outside a request scope".
 */
export function inRequestScope<T>(req: NextRequest, route: string, fn: () => Promise<T>): Promise<T> {
  const workStore = { route, page: route, forceStatic: false, dynamicShouldError: false, isStaticGeneration: false } as never;
  const requestStore = {
    type: "request",
    phase: "action",
    headers: req.headers,
    cookies: new RequestCookies(req.headers),
    mutableCookies: new RequestCookies(req.headers),
    userspaceMutableCookies: new RequestCookies(req.headers),
  } as never;
  return workAsyncStorage.run(workStore, () => workUnitAsyncStorage.run(requestStore, fn));
}

/**
 * Row counts of every table, the newest updated_at of tables that have one, and the audit chain's head. Records
 * of the refusal itself are left out (audit events with outcome "denied", the outbox of staged denial events,
 * per-source failure counters): a refusal is allowed to be recorded, never to change anything else.
 */
export async function dbSnapshot(): Promise<Record<string, string>> {
  const tables = await db.$queryRaw<{ table_name: string; has_updated: boolean }[]>`
    SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = 'public' AND c.table_name = t.table_name AND c.column_name = 'updated_at') AS has_updated
    FROM information_schema.tables t WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY t.table_name`;
  // One statement for all tables: the matrix takes a snapshot before and after each of several hundred calls.
  const parts = tables
    .filter(({ table_name: t }) => !IGNORED_TABLES.test(t))
    .map(
      ({ table_name: t, has_updated }) =>
        `SELECT '${t}' AS t, count(*)::text${has_updated ? " || ' @' || coalesce(max(updated_at)::text, '-')" : ""} AS v FROM "${t}"${t === "audit_events" ? " WHERE outcome <> 'denied'" : ""}`,
    );
  parts.push(`SELECT 'audit chain head', coalesce((SELECT hash FROM audit_events WHERE outcome <> 'denied' ORDER BY seq DESC LIMIT 1), '-')`);
  const [boss] = await db.$queryRaw<{ ok: boolean }[]>`SELECT to_regclass('pgboss.job') IS NOT NULL AS ok`;
  if (boss?.ok) parts.push(`SELECT 'pgboss jobs', count(*)::text FROM pgboss.job`);
  const rows = await db.$queryRawUnsafe<{ t: string; v: string }[]>(parts.join("\nUNION ALL\n"));
  return Object.fromEntries(rows.map((r) => [r.t, r.v]));
}

/** Outbox of staged denial events, counters of failed sign-ins or denied requests, pg-boss internals. */
export const IGNORED_TABLES = /^(_prisma_migrations|audit_outbox)$|fail|throttl|denial|counter|rate_limit|attempt/;

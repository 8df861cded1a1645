// Standing security suite, part 2: hostile input to every route that takes a body, a path parameter or a query
// string. Each hostile request must get a 4xx with `{ error: { code, message } }`, store nothing, and leave the
// audit chain verifiable. The routes come from the route files (as in the matrix), so a new one is covered at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callRoute, dbSnapshot, discoverRoutes, type DiscoveredRoute, type Method } from "../../../scripts/test-harness/routes";
import { EXPECTED, seedSecurityFixture, type F, type Who } from "../../../scripts/test-harness/security-fixture";
import { disconnectDb } from "../../db";
import type { Role } from "../actor";
import { verifyAuditChain } from "../audit/verify-audit-chain";

let routes: DiscoveredRoute[];
let f: F;

beforeAll(async () => {
  routes = await discoverRoutes();
  f = await seedSecurityFixture();
});

afterAll(async () => {
  await disconnectDb();
});

interface Hostile {
  name: string;
  body?: string | Buffer;
  contentType?: string;
  params?: Record<string, string | string[]>;
  query?: string;
}

const MB = 1024 * 1024;
const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
const deepObj = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);

/** Variants of a valid JSON body, each of which must be refused. */
function hostileBodies(valid: Record<string, unknown>, opts: { loose?: boolean; optional?: boolean }): Hostile[] {
  const text = JSON.stringify(valid);
  const inner = text.slice(1, -1);
  const out: Hostile[] = [
    { name: "malformed JSON", body: '{"a":' },
    { name: "truncated JSON", body: text.slice(0, -1) },
    { name: "an array instead of an object", body: "[]" },
    { name: "a string instead of an object", body: '"x"' },
    { name: "null instead of an object", body: "null" },
    { name: "a number instead of an object", body: "1e999" },
    { name: "__proto__ key", body: `{"__proto__":{"role":"admin","isAdmin":true}${inner ? `,${inner}` : ""}}` },
    { name: "constructor key", body: `{"constructor":{"prototype":{"isAdmin":true}}${inner ? `,${inner}` : ""}}` },
    { name: "nested __proto__ key", body: `{"x":{"__proto__":{"polluted":1}}${inner ? `,${inner}` : ""}}` },
    { name: "arrays nested 10,000 deep", body: `{"x":${deep(10_000)}${inner ? `,${inner}` : ""}}` },
    { name: "objects nested 10,000 deep", body: `{"x":${deepObj(10_000)}${inner ? `,${inner}` : ""}}` },
    { name: "NUL in a key", body: `{"a\\u0000b":1${inner ? `,${inner}` : ""}}` },
  ];
  // A loose schema (Kubernetes ImageReview, registry notifications) ignores unknown fields and media types by design.
  if (!opts.loose) {
    out.push(
      { name: "text/plain content type", body: text, contentType: "text/plain" },
      { name: "a 1 MB body of one string", body: JSON.stringify({ ...valid, x: "a".repeat(MB) }) },
      { name: "invalid UTF-8", body: Buffer.concat([Buffer.from('{"x":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`"${inner ? `,${inner}` : ""}}`)]) },
      { name: "unknown field", body: JSON.stringify({ ...valid, zzzUnknown: 1 }) },
    );
  }
  if (!opts.optional) out.push({ name: "empty body", body: "" });
  for (const [k, v] of Object.entries(valid)) {
    const set = (x: unknown) => JSON.stringify({ ...valid, [k]: x });
    out.push({ name: `${k}: a number`, body: set(12345) }, ...(opts.loose ? [] : [{ name: `${k}: an object`, body: set({ a: 1 }) }]), {
      name: `${k}: deep nesting`,
      body: `{${inner.replace(JSON.stringify(k) + ":" + JSON.stringify(v), `"${k}":${deep(5000)}`)}}`,
    });
    if (typeof v === "string") {
      out.push(
        { name: `${k}: NUL`, body: set(`${v}\u0000`) },
        { name: `${k}: only NUL`, body: set("\u0000") },
        { name: `${k}: BEL and ESC`, body: set(`${v}\u0007\u001b[31m`) },
        { name: `${k}: C1 control`, body: set(`${v}\u0085`) },
        { name: `${k}: 900 KB`, body: set(`${v}${"a".repeat(900 * 1024)}`) },
        { name: `${k}: an array`, body: set([v]) },
        { name: `${k}: true`, body: set(true) },
      );
    }
    if (Array.isArray(v))
      out.push(
        { name: `${k}: NUL in an item`, body: set(["x\u0000"]) },
        { name: `${k}: 100,000 items`, body: set(Array.from({ length: 100_000 }, () => "x")) },
      );
  }
  return out;
}

/** Hostile evidence uploads (raw bodies; the evidence parsers are the edge here). */
function hostileEvidence(): Hostile[] {
  const bom = (components: unknown) => JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components });
  // Built as text: JSON.stringify itself overflows the stack on 10,000 levels.
  const nested = (n: number) =>
    '{"type":"library","name":"c","version":"1","components":['.repeat(n) + '{"type":"library","name":"leaf","version":"1"}' + "]}".repeat(n);
  return [
    { name: "malformed JSON", body: '{"bomFormat":' },
    { name: "empty body", body: "" },
    { name: "1 MB of junk", body: "a".repeat(MB) },
    { name: "arrays nested 100,000 deep", body: deep(100_000) },
    { name: "components nested 10,000 deep", body: `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[${nested(10_000)}]}` },
    { name: "NUL in a component name", body: bom([{ type: "library", name: "evil\u0000", version: "1" }]) },
    { name: "NUL in a key", body: `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","na\\u0000me":"x","version":"1"}]}` },
    { name: "__proto__ key", body: `{"__proto__":{"polluted":1},"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}` },
    { name: "components: a string", body: JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", components: "x" }) },
    { name: "a JSON array", body: "[]" },
    { name: "invalid UTF-8", body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
  ];
}

/** Path parameters and query strings no route should let through to the database. */
function hostileRequestLine(route: DiscoveredRoute, method: Method, params: Record<string, string | string[]> | undefined): Hostile[] {
  const out: Hostile[] = [
    { name: "NUL in the query string", query: "registry=a%00b&stage=x%00" },
    { name: "ESC in the query string", query: "q=%1B%5B31m" },
    { name: "NUL in a query parameter name", query: "a%00=1" },
  ];
  for (const [k, v] of Object.entries(params ?? {})) {
    const set = (x: string) => ({ ...params, [k]: Array.isArray(v) ? [...v.slice(0, -1), x] : x });
    const last = Array.isArray(v) ? v.at(-1)! : v;
    out.push(
      { name: `path ${k}: NUL`, params: set(`${last}\u0000`) },
      { name: `path ${k}: control characters`, params: set(`${last}\u0007\n`) },
      { name: `path ${k}: malformed URL escape`, params: set("%E0%A4%A") },
      { name: `path ${k}: a lone %`, params: set("100%") },
      { name: `path ${k}: 100 KB`, params: set("a".repeat(100_000)) },
    );
  }
  void route;
  void method;
  return out;
}

/** The caller a hostile request is sent as: one that gets past authorization, so validation is what is tested. */
function callerFor(key: string): { who: Who | "webhook"; token?: string } {
  if (key.includes("/notifications")) return { who: "webhook", token: f.webhookToken };
  const e = EXPECTED[key]!;
  for (const r of ["admin", "reviewer", "developer", "manager"] as Role[]) {
    const s = e.status[r] ?? e.status.roles ?? 0;
    if (s < 400 || s === 422 || s === 409) return { who: r, token: f.tokens[r] };
  }
  return { who: "admin", token: f.tokens.admin };
}

describe("hostile input", () => {
  it("answers every hostile body, path and query with a 4xx JSON error, stores nothing and keeps the audit chain intact", async () => {
    const problems: string[] = [];
    let tried = 0;
    let fiveXX = 0;
    for (const route of routes) {
      if (route.template.startsWith("/api/auth/")) continue; // next-auth's own form endpoints; sign-in is tested in e2e
      for (const [method, handler] of Object.entries(route.methods)) {
        const key = `${method} ${route.template}`;
        const e = EXPECTED[key];
        if (!e) continue; // route-matrix reports it
        const { who, token } = callerFor(key);
        const params = e.params?.(f);
        const validBody = e.body?.(f, who === "webhook" ? "admin" : who);
        const variants: Hostile[] = [...hostileRequestLine(route, method as Method, params)];
        if (key === "POST /api/v1/images/[...ref]") variants.push(...hostileEvidence());
        else if (validBody !== undefined && typeof validBody === "object" && !Buffer.isBuffer(validBody)) {
          variants.push(
            ...hostileBodies(validBody as Record<string, unknown>, {
              loose: key.includes("imagereview") || key.includes("notifications") || key.includes("/advisories"),
              optional: key.includes("/rotate"),
            }),
          );
        }
        for (const h of variants) {
          const before = await dbSnapshot();
          const res = await callRoute(handler!, {
            method: method as Method,
            template: route.template,
            params: h.params ?? params,
            query: h.query ?? e.query?.(f),
            body: h.body ?? validBody,
            headers: h.contentType ? { "content-type": h.contentType } : undefined,
            token,
          });
          tried++;
          const text = await res.text();
          const label = `${key} as ${who}, ${h.name}: ${res.status}`;
          if (res.status >= 500) fiveXX++;
          if (res.status < 400 || res.status >= 500) {
            problems.push(`${label} ${text.slice(0, 160)}`);
            continue;
          }
          let json: { error?: { code?: unknown; message?: unknown } } = {};
          try {
            json = JSON.parse(text);
          } catch {
            // reported below
          }
          if (typeof json.error?.code !== "string" || typeof json.error.message !== "string")
            problems.push(`${label} without a JSON error: ${text.slice(0, 120)}`);
          else if (/prisma|postgres|invalid byte sequence|\bat [\w.]+ \(|node_modules/i.test(json.error.message))
            problems.push(`${label} leaks internals: ${json.error.message.slice(0, 160)}`);
          const after = await dbSnapshot();
          const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
          if (changed.length) problems.push(`${label} wrote to ${changed.join(", ")}`);
        }
      }
    }
    console.log(`hostile input: ${tried} requests tried, ${fiveXX} answered 5xx`);
    expect(problems).toEqual([]);
    expect(fiveXX).toBe(0);
    expect(tried).toBeGreaterThan(800);
    expect(await verifyAuditChain()).toMatchObject({ ok: true });
  }, 900_000);
});

// Standing security suite, part 1: the route × role matrix. Routes are discovered from app/api/**/route.ts, so a
// new route or method fails here until it has an entry in EXPECTED (scripts/test-harness/security-fixture.ts).
// Every (route, method) is called as no session, a garbage token, a revoked token and each role; the status must
// match, and any 4xx must leave the database exactly as it was (row counts, updated_at, audit chain head; records
// of the refusal itself aside).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callRoute, dbSnapshot, discoverRoutes, type DiscoveredRoute, type Method } from "../../../scripts/test-harness/routes";
import { CALLERS, EXPECTED, seedSecurityFixture, type F } from "../../../scripts/test-harness/security-fixture";
import { disconnectDb } from "../../db";
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

describe("route × role matrix", () => {
  it("has an expectation for every exported method of every route file, and no stale ones", () => {
    const found = routes.flatMap((r) => Object.keys(r.methods).map((m) => `${m} ${r.template}`)).sort();
    expect(found.length).toBeGreaterThan(40);
    const missing = found.filter((k) => !EXPECTED[k]);
    const stale = Object.keys(EXPECTED).filter((k) => !found.includes(k));
    expect(missing, "routes without an entry in EXPECTED (route-matrix.int.test.ts): add one").toEqual([]);
    expect(stale, "entries in EXPECTED for routes that no longer exist").toEqual([]);
  });

  it("answers each caller with the expected status, and a refusal writes nothing", async () => {
    const failures: string[] = [];
    let calls = 0;
    for (const route of routes) {
      for (const [method, handler] of Object.entries(route.methods)) {
        const key = `${method} ${route.template}`;
        const e = EXPECTED[key];
        if (!e) continue; // reported by the test above
        for (const who of CALLERS) {
          const want = e.status[who] ?? (who === "anonymous" || who === "garbage token" || who === "revoked token" ? 401 : e.status.roles);
          const before = await dbSnapshot();
          const res = await callRoute(handler!, {
            method: method as Method,
            template: route.template,
            params: e.params?.(f),
            query: e.query?.(f),
            headers: e.headers,
            body: e.body?.(f, who),
            token: f.tokens[who],
          });
          calls++;
          const text = await res.text();
          if (res.status !== want) failures.push(`${key} as ${who}: ${res.status} (expected ${want}) ${text.slice(0, 200)}`);
          if (res.status >= 400 && res.status < 500) {
            if (!route.template.startsWith("/api/auth/")) {
              const json = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
              if (typeof json.error?.code !== "string" || typeof json.error.message !== "string")
                failures.push(`${key} as ${who}: ${res.status} without { error: { code, message } }`);
            }
            const after = await dbSnapshot();
            const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
            if (changed.length)
              failures.push(`${key} as ${who}: refused with ${res.status} but wrote to ${changed.map((t) => `${t} (${before[t]} → ${after[t]})`).join(", ")}`);
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(40 * CALLERS.length);
    expect((await verifyAuditChain()).ok).toBe(true);
  }, 600_000);
});

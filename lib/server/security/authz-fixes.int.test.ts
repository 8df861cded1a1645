// Found by an authorisation review, through the real route handlers: an admin could be every approver by making
// review tokens in other reviewers' names, and three malformed ids or dates reached Postgres and answered 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callRoute, discoverRoutes, type DiscoveredRoute, type Method } from "../../../scripts/test-harness/routes";
import { seedSecurityFixture, type F } from "../../../scripts/test-harness/security-fixture";
import { db, disconnectDb } from "../../db";

let routes: DiscoveredRoute[];
let f: F;
const h = (template: string, method: Method) => routes.find((r) => r.template === template)!.methods[method]!;

beforeAll(async () => {
  routes = await discoverRoutes();
  f = await seedSecurityFixture();
});
afterAll(async () => {
  await disconnectDb();
});

describe("four eyes: an admin cannot make another person's judgement", () => {
  const mint = (body: object) => callRoute(h("/api/v1/tokens", "POST"), { method: "POST", template: "/api/v1/tokens", body, token: f.tokens.admin });

  it("refuses review or admin scopes on a token for someone else (403 naming scopes), and nothing is made", async () => {
    const before = await db.apiToken.count();
    for (const [email, scopes] of [
      ["alice@example.com", ["review"]],
      ["bob@example.com", ["read", "review"]],
      ["admin2@example.com", ["admin"]],
    ] as const) {
      const res = await mint({ email, scopes, name: "not-really-theirs" });
      if (email === "admin2@example.com" && res.status === 404) continue; // no second admin in this fixture
      expect(res.status, `${email} ${scopes.join(",")}`).toBe(403);
      expect(((await res.json()) as { error: { field: string; message: string } }).error).toMatchObject({
        field: "scopes",
        message: expect.stringContaining("four eyes"),
      });
    }
    expect(await db.apiToken.count()).toBe(before);
  });

  it("still makes the other scopes for anyone, and review and admin tokens for oneself", async () => {
    const res = await mint({ email: "alice@example.com", scopes: ["read", "evidence", "admission"], name: "ci" });
    expect(res.status).toBe(201);
    const own = await mint({ email: "admin@example.com", scopes: ["review", "admin"], name: "mine" });
    expect(own.status).toBe(201);
  });
});

describe("malformed ids and dates are 4xx, never 500", () => {
  it("a sync-run id of 36 hyphens", async () => {
    const res = await callRoute(h("/api/v1/sync-runs/[id]", "GET"), {
      method: "GET",
      template: "/api/v1/sync-runs/[id]",
      params: { id: "-".repeat(36) },
      token: f.tokens.developer,
    });
    expect(res.status).toBe(422);
  });

  it("an evidence document id of 36 hex digits without hyphens", async () => {
    const ref = [...f.repo.split("/").slice(0, -1), `${f.repo.split("/").at(-1)}@${f.digest}`, "evidence", "0".repeat(36), "raw"];
    const res = await callRoute(h("/api/v1/images/[...ref]", "GET"), {
      method: "GET",
      template: "/api/v1/images/[...ref]",
      params: { ref },
      query: "registry=default",
      token: f.tokens.developer,
    });
    expect(res.status).toBe(404);
  });

  for (const q of ["from=0000-01-01&to=0000-01-02", "from=0001-01-01T00:00:00%2B01:00&to=0001-01-02"]) {
    it(`a report period in year 0 (${q})`, async () => {
      const res = await callRoute(h("/api/v1/reports/[name]", "GET"), {
        method: "GET",
        template: "/api/v1/reports/[name]",
        params: { name: "approvals" },
        query: `format=json&${q}`,
        token: f.tokens.manager,
      });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { field: string } }).error.field).toMatch(/^(from|to)$/);
    });
  }
});

import { describe, expect, it } from "vitest";
import type { Actor } from "../actor";
import { parseScopes, requiredScopes, requireTokenScope, ROLE_SCOPES } from "./token-scope";

const tokenActor = (scopes: string[]): Actor => ({ kind: "user", id: "u", email: "u@example.com", name: "u", role: "admin", via: "token", scopes });

describe("token scopes", () => {
  it("an admission token passes verify and ImageReview only", () => {
    const t = tokenActor(["admission"]);
    expect(() => requireTokenScope(t, "GET", "/api/v1/verify")).not.toThrow();
    expect(() => requireTokenScope(t, "POST", "/api/v1/imagereview")).not.toThrow();
    for (const [m, p] of [
      ["GET", "/api/v1/images"],
      ["GET", "/api/v1/audit"],
      ["POST", "/api/v1/requests"],
      ["PUT", "/api/v1/groups"],
      ["POST", "/api/v1/tokens"],
    ] as const) {
      expect(() => requireTokenScope(t, m, p)).toThrowError(expect.objectContaining({ code: "FORBIDDEN" }));
    }
  });

  it("writes not listed need admin; admin stands for every scope; sessions are not scoped", () => {
    expect(() => requireTokenScope(tokenActor(["read", "evidence", "request", "review"]), "DELETE", "/api/v1/registries/x")).toThrow(/needs admin/);
    expect(() => requireTokenScope(tokenActor(["admin"]), "POST", "/api/v1/imagereview")).not.toThrow();
    expect(() => requireTokenScope(tokenActor([]), "GET", "/api/v1/images")).toThrow(/\(none\)/);
    const session: Actor = { kind: "user", id: "u", email: "u@example.com", name: "u", role: "developer", via: "session" };
    expect(() => requireTokenScope(session, "DELETE", "/api/v1/registries/x")).not.toThrow();
    // Paths are matched whole: a lookalike route does not borrow a narrower scope.
    expect(requiredScopes("POST", "/api/v1/imagereview/extra")).toEqual(["admin"]);
    expect(requiredScopes("POST", "/api/v1/requests/a/b/reviews")).toEqual(["admin"]);
  });

  it("parses scope lists, refuses unknown names and anything beyond the role", () => {
    expect(parseScopes(" read , Evidence,read", "developer")).toEqual(["read", "evidence"]);
    expect(parseScopes("all", "manager")).toEqual([...ROLE_SCOPES.manager]);
    expect(() => parseScopes("read,root", "admin")).toThrowError(expect.objectContaining({ code: "INVALID_INPUT", field: "scopes" }));
    expect(() => parseScopes("review", "developer")).toThrowError(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => parseScopes(" , ", "admin")).toThrowError(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});

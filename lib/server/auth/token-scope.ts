import "server-only";
import { AppError } from "../../errors";
import type { Actor, Role } from "../actor";

export const SCOPES = ["read", "evidence", "request", "review", "admission", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The most a token of a user with this role may carry. The role is checked again on every request, so a token made
 * before a demotion cannot do more than the new role allows either; this cap keeps tokens from claiming it.
 */
export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  admin: SCOPES,
  reviewer: ["read", "evidence", "request", "review", "admission"],
  developer: ["read", "evidence", "request", "admission"],
  manager: ["read", "review", "admission"],
};

/**
 * Which scopes (any one of them) a route needs from a token, by method and path. GET and HEAD need `read`;
 * every other method needs `admin` unless the route is listed here, so a new write route is closed to narrow
 * tokens until someone decides otherwise. An `admission` token passes only verify and ImageReview.
 */
const ROUTES: { method: string; path: RegExp; scopes: readonly Scope[] }[] = [
  { method: "GET", path: /^\/api\/v1\/verify$/, scopes: ["admission", "read"] },
  { method: "POST", path: /^\/api\/v1\/imagereview$/, scopes: ["admission"] },
  { method: "POST", path: /^\/api\/v1\/images\/.+$/, scopes: ["evidence"] },
  { method: "POST", path: /^\/api\/v1\/requests$/, scopes: ["request"] },
  { method: "POST", path: /^\/api\/v1\/requests\/[^/]+\/withdraw$/, scopes: ["request"] },
  { method: "POST", path: /^\/api\/v1\/requests\/[^/]+\/reviews$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/approvals$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/waivers$/, scopes: ["review"] },
  { method: "DELETE", path: /^\/api\/v1\/waivers\/[^/]+$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/approvals\/[^/]+\/revoke$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/revocations$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/revocations\/[^/]+\/confirm$/, scopes: ["review"] },
  { method: "POST", path: /^\/api\/v1\/advisories$/, scopes: ["review"] },
  // A pipeline pushes, asks for a sync, then uploads evidence or requests a promotion.
  { method: "POST", path: /^\/api\/v1\/sync$/, scopes: ["evidence", "request"] },
  { method: "POST", path: /^\/api\/v1\/registries\/[^/]+\/sync$/, scopes: ["evidence", "request"] },
];

export function requiredScopes(method: string, pathname: string, declared?: Scope | readonly Scope[]): readonly Scope[] {
  if (declared) return typeof declared === "string" ? [declared] : declared;
  const m = method.toUpperCase();
  const hit = ROUTES.find((r) => r.method === m && r.path.test(pathname));
  if (hit) return hit.scopes;
  return m === "GET" || m === "HEAD" ? ["read"] : ["admin"];
}

/**
 * Refuses a token request whose token lacks every scope the route accepts (403, audited by apiHandler). Sessions and
 * client certificates are not scoped: they act with the user's role. `admin` stands for every scope.
 */
export function requireTokenScope(actor: Actor, method: string, pathname: string, declared?: Scope | readonly Scope[]): void {
  if (actor.kind !== "user" || actor.via !== "token") return;
  const have = actor.scopes ?? [];
  if (have.includes("admin")) return;
  const need = requiredScopes(method, pathname, declared);
  // An admission token answers verify and ImageReview only; it is not a read token in disguise.
  if (need.some((s) => have.includes(s))) return;
  throw new AppError("FORBIDDEN", `this API token has scope ${have.join(", ") || "(none)"}; ${method.toUpperCase()} ${pathname} needs ${need.join(" or ")}`);
}

/** Parses a scope list ("read,evidence" or an array); "all" means everything the role allows. Unknown names are refused. */
export function parseScopes(input: string | readonly string[], role: Role): Scope[] {
  const raw = (typeof input === "string" ? input.split(",") : [...input]).map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (raw.length === 0) throw new AppError("INVALID_INPUT", `scopes: name at least one of ${SCOPES.join(", ")}`, "scopes");
  if (raw.length === 1 && raw[0] === "all") return [...ROLE_SCOPES[role]];
  const unknown = raw.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new AppError("INVALID_INPUT", `scopes: unknown ${unknown.join(", ")}; use ${SCOPES.join(", ")}`, "scopes");
  const scopes = [...new Set(raw)] as Scope[];
  const beyond = scopes.filter((s) => !ROLE_SCOPES[role].includes(s));
  if (beyond.length) throw new AppError("FORBIDDEN", `scopes: a ${role} cannot hold ${beyond.join(", ")} (allowed: ${ROLE_SCOPES[role].join(", ")})`, "scopes");
  return scopes;
}

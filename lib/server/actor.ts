import "server-only";
import { AppError } from "../errors";

export type Role = "admin" | "reviewer" | "developer" | "manager";
export const ROLES: readonly Role[] = ["admin", "reviewer", "developer", "manager"];

/** Who is acting. Users come with the role read from the database on this request. */
export type Actor =
  | {
      kind: "user";
      id: string;
      email: string;
      name: string;
      role: Role;
      via: "session" | "token" | "certificate";
      /** Only for `via: "token"`: what the token may do, on top of the role (see lib/server/auth/token-scope.ts). */
      scopes?: readonly string[];
    }
  | { kind: "cli"; label: string }
  | { kind: "system"; label: string };

export function actorLabel(a: Actor): string {
  switch (a.kind) {
    case "user":
      return `${a.email}${a.via === "token" ? " (token)" : a.via === "certificate" ? " (client certificate)" : ""}`;
    case "cli":
      return `cli:${a.label}`;
    case "system":
      return `system:${a.label}`;
    default: {
      const never: never = a;
      return never;
    }
  }
}

/** The CLI runs with the operator's database access, so it acts with admin rights. */
export function hasRole(a: Actor, roles: readonly Role[]): boolean {
  if (a.kind !== "user") return true;
  return roles.includes(a.role);
}

export function requireRole(a: Actor, roles: readonly Role[], what: string): void {
  if (!hasRole(a, roles)) {
    throw new AppError("FORBIDDEN", `${what} needs role ${roles.join(" or ")}; you are ${a.kind === "user" ? a.role : a.kind}`);
  }
}

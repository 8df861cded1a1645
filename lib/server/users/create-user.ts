import "server-only";
import { z } from "zod";
import { db } from "../../db";
import { AppError } from "../../errors";
import { hashPassword } from "../../password";
import { requireRole, ROLES, type Actor, type Role } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { passwordLineageAfter, passwordSetById } from "./password-standing";

export interface CreateUserOptions {
  actor: Actor;
  email: string;
  name?: string;
  role: Role;
  password: string;
  /** When the user exists: update role/name/password instead of failing (used by the idempotent seed). */
  upsert?: boolean;
}

const input = z.object({
  email: z.email().max(254),
  role: z.enum(ROLES as [Role, ...Role[]]),
  password: z.string().min(8, "password must be at least 8 characters").max(1024),
});

export async function createUser({ actor, email, name, role, password, upsert = false }: CreateUserOptions) {
  requireRole(actor, ["admin"], "managing users");
  const r = input.safeParse({ email, role, password });
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new AppError("INVALID_INPUT", `${i.path.join(".")}: ${i.message}`, String(i.path[0]));
  }
  const normalized = email.trim().toLowerCase();
  const passwordHash = await hashPassword(password);
  return db.$transaction(async (tx) => {
    const existing = await tx.user.findUnique({ where: { email: normalized } });
    if (existing && !upsert) throw new AppError("CONFLICT", `user ${normalized} exists`, "email");
    // A password an admin chose is a temporary one (password-standing.ts), also for a new account and an upsert (which
    // resets an existing account's password); the CLI and the seed (the operator) set ordinary ones.
    // And the account counts as that admin too for four eyes, until a CLI reset (password-standing.ts).
    const passwordLineageIds = await passwordLineageAfter(tx, actor, existing ?? { id: "", passwordLineageIds: [] });
    const user = existing
      ? await tx.user.update({
          where: { id: existing.id },
          data: { role, name: name ?? existing.name, passwordHash, passwordSetById: passwordSetById(actor, existing.id), passwordLineageIds },
          omit: { passwordHash: true },
        })
      : await tx.user.create({
          data: {
            email: normalized,
            name: name ?? normalized.split("@")[0]!,
            role,
            passwordHash,
            passwordSetById: actor.kind === "user" ? actor.id : null,
            passwordLineageIds,
          },
          omit: { passwordHash: true },
        });
    await appendAuditEvent(tx, { actor, action: existing ? "user.update" : "user.create", target: normalized, detail: { role } });
    return { user, created: !existing };
  });
}

import "server-only";
import { db } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { type Actor, type Role } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { parseScopes, ROLE_SCOPES, type Scope } from "../auth/token-scope";
import { newToken } from "./token-format";
import { passwordSetByOther, temporaryPasswordRefusal } from "../users/password-standing";

export interface CreateTokenOptions {
  actor: Actor;
  /** Whose token. Admins may make tokens for anyone; other users only for themselves. */
  email: string;
  name?: string;
  /**
   * What the token may do: "read,evidence" or a list; "all" = everything the user's role allows. Capped by the role
   * (asking for more is refused). Omitted: every scope the role allows (the CLI's historical behaviour).
   */
  scopes?: string | readonly string[];
  /** e.g. "30d", "12h", "90m"; omitted means IMPRIMATUR_TOKEN_DEFAULT_DAYS; longer than IMPRIMATUR_TOKEN_MAX_DAYS is refused. */
  expires?: string;
}

export function parseDuration(s: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(s.trim());
  if (!m) throw new AppError("INVALID_INPUT", `expires must look like 30d, 12h, 90m or 2w; got ${JSON.stringify(s.slice(0, 40))}`, "expires");
  const n = Number(m[1]);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as "m" | "h" | "d" | "w"];
  if (n === 0) throw new AppError("INVALID_INPUT", "expires must be longer than zero", "expires");
  return n * unit;
}

/** Scopes a user's token can carry only when that user made it (see createToken). */
const OWNER_ONLY: readonly Scope[] = ["review", "admin"];

/** Returns the token once; only its SHA-256 is stored. */
export async function createToken({ actor, email, name, scopes, expires }: CreateTokenOptions) {
  const normalized = email.trim().toLowerCase();
  if (actor.kind === "user" && actor.role !== "admin" && actor.email !== normalized) {
    throw new AppError("FORBIDDEN", "only admins make API tokens for other users");
  }
  if (name !== undefined && (name.length > 100 || /[\u0000-\u001f\u007f]/.test(name))) {
    throw new AppError("INVALID_INPUT", "name: at most 100 characters, no control characters", "name");
  }
  const user = await db.user.findUnique({ where: { email: normalized }, omit: { passwordHash: true } });
  if (!user) throw new AppError("NOT_FOUND", `no user ${normalized}`, "email");
  if (user.disabled) throw new AppError("CONFLICT", `user ${normalized} is disabled`, "email");
  const role = user.role as Role;
  // Four eyes: a review (approve, waive) is its owner's judgement, and admin holds break glass. A token with either
  // scope made by someone else would let one admin be every approver under other people's names, with no break-glass
  // marker (found by review). Such tokens are made by their owner (or by an operator with the CLI, who already holds
  // the database); an admin may still make the others (read, evidence, request, admission) for anyone.
  const forOther = actor.kind === "user" && actor.email !== user.email;
  // Nor by the owner while their password is a temporary one someone else set (password-standing.ts): whoever signed in
  // with it may be that someone. Omitted scopes leave these out, as for someone else's token.
  const temporary =
    actor.kind === "user" && !forOther ? temporaryPasswordRefusal(await passwordSetByOther(db, user.id), "making review or admin tokens") : null;
  const restricted = forOther || temporary !== null;
  const granted = scopes === undefined ? ROLE_SCOPES[role].filter((s) => !restricted || !OWNER_ONLY.includes(s)) : parseScopes(scopes, role);
  const ownerOnly = restricted ? granted.filter((s) => OWNER_ONLY.includes(s)) : [];
  if (ownerOnly.length)
    throw new AppError(
      "FORBIDDEN",
      temporary
        ? `scopes: ${ownerOnly.join(", ")}: ${temporary}`
        : `scopes: ${ownerOnly.join(", ")} act as ${user.email}'s own judgement (four eyes); only they can make such a token`,
      "scopes",
    );
  const e = env();
  const lifetime = expires ? parseDuration(expires) : e.IMPRIMATUR_TOKEN_DEFAULT_DAYS * 86_400_000;
  if (lifetime > e.IMPRIMATUR_TOKEN_MAX_DAYS * 86_400_000) {
    throw new AppError("INVALID_INPUT", `expires: at most ${e.IMPRIMATUR_TOKEN_MAX_DAYS}d (IMPRIMATUR_TOKEN_MAX_DAYS)`, "expires");
  }
  const expiresAt = new Date(Date.now() + lifetime);
  const t = newToken();
  const row = await db.$transaction(async (tx) => {
    const row = await tx.apiToken.create({ data: { userId: user.id, name: name ?? "cli", tokenHash: t.hash, prefix: t.prefix, expiresAt, scopes: granted } });
    await appendAuditEvent(tx, {
      actor,
      action: "token.create",
      target: user.email,
      detail: { tokenId: row.id, prefix: t.prefix, name: row.name, scopes: granted, expiresAt: expiresAt.toISOString() },
    });
    return row;
  });
  return { id: row.id, token: t.token, prefix: t.prefix, email: user.email, name: row.name, scopes: granted, expiresAt };
}

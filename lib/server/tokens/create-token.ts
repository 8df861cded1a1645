import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { newToken } from "./token-format";

export interface CreateTokenOptions {
  actor: Actor;
  email: string;
  name?: string;
  /** e.g. "30d", "12h", "90m"; omitted means no expiry. */
  expires?: string;
}

export function parseDuration(s: string): number {
  const m = /^(\d{1,6})([mhdw])$/.exec(s.trim());
  if (!m) throw new AppError("INVALID_INPUT", `expires must look like 30d, 12h, 90m or 2w; got ${JSON.stringify(s)}`, "expires");
  const n = Number(m[1]);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as "m" | "h" | "d" | "w"];
  return n * unit;
}

/** Returns the token once; only its SHA-256 is stored. */
export async function createToken({ actor, email, name, expires }: CreateTokenOptions) {
  requireRole(actor, ["admin"], "creating API tokens");
  const user = await db.user.findUnique({ where: { email: email.trim().toLowerCase() } });
  if (!user) throw new AppError("NOT_FOUND", `no user ${email}`, "email");
  const expiresAt = expires ? new Date(Date.now() + parseDuration(expires)) : null;
  const t = newToken();
  const row = await db.$transaction(async (tx) => {
    const row = await tx.apiToken.create({ data: { userId: user.id, name: name ?? "cli", tokenHash: t.hash, prefix: t.prefix, expiresAt } });
    await appendAuditEvent(tx, { actor, action: "token.create", target: user.email, detail: { tokenId: row.id, prefix: t.prefix, expiresAt: expiresAt?.toISOString() ?? null } });
    return row;
  });
  return { id: row.id, token: t.token, prefix: t.prefix, email: user.email, expiresAt };
}

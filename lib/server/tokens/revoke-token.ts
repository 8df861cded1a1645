import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { type Actor } from "../actor";
import { forgetCachedTokens } from "../auth/token-cache";
import { appendAuditEvent } from "../audit/append-audit-event";

/** Revokes by id or by the printed prefix. Admins revoke any token; other users only their own (others look absent). */
export async function revokeToken({ actor, idOrPrefix }: { actor: Actor; idOrPrefix: string }) {
  if (idOrPrefix.length > 64) throw new AppError("INVALID_INPUT", "token id or prefix is too long", "id");
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrPrefix);
  const own = actor.kind === "user" && actor.role !== "admin" ? { userId: actor.id } : {};
  const matches = await db.apiToken.findMany({ where: { ...(isUuid ? { id: idOrPrefix } : { prefix: idOrPrefix }), ...own }, omit: { tokenHash: true } });
  if (matches.length === 0) throw new AppError("NOT_FOUND", `no token ${idOrPrefix}`);
  if (matches.length > 1) throw new AppError("INVALID_INPUT", `prefix ${idOrPrefix} matches ${matches.length} tokens; use the id`);
  const t = matches[0]!;
  if (t.revokedAt) return t;
  const done = await db.$transaction(async (tx) => {
    const row = await tx.apiToken.update({ where: { id: t.id }, data: { revokedAt: new Date() }, omit: { tokenHash: true } });
    await appendAuditEvent(tx, { actor, action: "token.revoke", target: t.prefix, detail: { tokenId: t.id } });
    return row;
  });
  // This replica forgets cached token lookups at once; other replicas within a second (auth/token-cache.ts).
  forgetCachedTokens();
  return done;
}

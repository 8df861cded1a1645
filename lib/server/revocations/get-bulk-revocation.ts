import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import type { Actor } from "../actor";
import { bulkRevocationItemsColumn, bulkRevocationOutcomesColumn, readJson } from "../json-columns";

/** A bulk revocation's progress: status, done and failed counts, and each approval's outcome. */
export async function getBulkRevocation({ actor, id }: { actor: Actor; id: string }) {
  if (!isUuid(id)) throw new AppError("NOT_FOUND", "no such bulk revocation");
  if (actor.kind === "user" && actor.role !== "admin" && actor.role !== "reviewer") throw new AppError("NOT_FOUND", "no such bulk revocation");
  const r = await db.bulkRevocation.findUnique({ where: { id } });
  if (!r) throw new AppError("NOT_FOUND", "no such bulk revocation");
  // The same checked read as the job: a plan that cannot be read is an error here too, not an empty list.
  const outcomes = readJson(bulkRevocationOutcomesColumn, r.outcomes, { table: "bulk_revocations", column: "outcomes", id: r.id });
  const items = readJson(bulkRevocationItemsColumn, r.items, { table: "bulk_revocations", column: "items", id: r.id });
  return {
    id: r.id,
    status: r.status,
    query: r.query,
    stages: r.stages,
    reason: r.reason,
    requestedBy: r.requestedBy,
    confirmedBy: r.confirmedBy,
    total: r.total,
    done: r.done,
    failed: r.failed,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    items: items.map((i) => ({ ...i, outcome: outcomes[i.approvalId] ?? null })),
  };
}

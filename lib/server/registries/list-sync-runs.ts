import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";
import { syncRunView } from "./sync-run-view";

/** A registry's most recent sync runs, newest first. The caller has already resolved the registry for this actor. */
export async function listSyncRuns({ actor: _actor, registryId, take = 10 }: { actor: Actor; registryId: string; take?: number }) {
  const runs = await db.syncRun.findMany({ where: { registryId }, orderBy: { createdAt: "desc" }, take: Math.min(Math.max(take, 1), 100) });
  return runs.map((r) => syncRunView(r));
}

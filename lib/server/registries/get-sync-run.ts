import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { syncRunView } from "./sync-run-view";
import { isUuid } from "../../uuid";

/** One sync run's progress, with its registry's name. Every signed-in role may poll a run (it names no secret). */
export async function getSyncRun({ actor: _actor, id }: { actor: Actor; id: string }) {
  if (!isUuid(id)) throw new AppError("INVALID_INPUT", "not a sync run id", "id");
  const run = await db.syncRun.findUnique({ where: { id }, include: { registry: { select: { name: true } } } });
  if (!run) throw new AppError("NOT_FOUND", "no such sync run");
  return { ...syncRunView(run), registry: run.registry.name };
}

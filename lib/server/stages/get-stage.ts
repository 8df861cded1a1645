import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { STAGE_INCLUDE, stageEntry } from "./list-stages";
import { stageGates } from "./stage-gates";

/** One stage; its gates fail closed (an unreadable row is an error naming it, see stage-gates.ts). */
export async function getStage({ name }: { name: string }) {
  const s = await db.stage.findUnique({ where: { name }, include: STAGE_INCLUDE });
  if (!s) throw new AppError("NOT_FOUND", `unknown stage ${name}`);
  return stageEntry(s, stageGates(s), null);
}

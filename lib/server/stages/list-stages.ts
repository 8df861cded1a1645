import "server-only";
import { db } from "../../db";
import { type Actor } from "../actor";
import { getStage } from "./get-stage";

export async function listStages(_: { actor: Actor }) {
  const rows = await db.stage.findMany({ orderBy: { position: "asc" }, select: { name: true } });
  return Promise.all(rows.map((r) => getStage({ name: r.name })));
}

import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/** The stages in order with their key backend and bundle setting: for filters, pickers and the keys page. */
export async function listStageNames({ actor: _actor }: { actor: Actor }) {
  return db.stage.findMany({ orderBy: { position: "asc" }, select: { name: true, keyBackend: true, emitBundle: true } });
}

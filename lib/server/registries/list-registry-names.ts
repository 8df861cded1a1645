import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/** Registry names, sorted: for filters and pickers. Every signed-in role may list them. */
export async function listRegistryNames({ actor: _actor }: { actor: Actor }): Promise<string[]> {
  const rows = await db.registry.findMany({ orderBy: { name: "asc" }, select: { name: true } });
  return rows.map((r) => r.name);
}

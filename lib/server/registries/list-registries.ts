import "server-only";
import { db } from "../../db";
import { type Actor } from "../actor";
import { registryView } from "./registry-view";

export async function listRegistries({ actor: _actor }: { actor: Actor }) {
  const rows = await db.registry.findMany({ orderBy: { name: "asc" } });
  return rows.map(registryView);
}

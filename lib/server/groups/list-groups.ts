import "server-only";
import { db } from "../../db";
import { type Actor } from "../actor";

export async function listGroups(_: { actor: Actor }) {
  const rows = await db.group.findMany({ orderBy: { name: "asc" }, include: { members: { include: { user: { select: { email: true, name: true } } } } } });
  return rows.map((g) => ({ id: g.id, name: g.name, description: g.description, members: g.members.map((m) => ({ email: m.user.email, name: m.user.name })) }));
}

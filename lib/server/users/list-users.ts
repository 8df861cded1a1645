import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";

export async function listUsers({ actor }: { actor: Actor }) {
  requireRole(actor, ["admin"], "listing users");
  return db.user.findMany({ orderBy: { email: "asc" }, omit: { passwordHash: true } });
}

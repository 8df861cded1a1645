import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/** The evidence-uploader rules: which group's members may attach evidence to repositories matching which pattern. */
export async function listEvidenceUploaders(_opts: { actor: Actor }) {
  // Any signed-in role may read who may attach evidence where (like groups and stages).
  const rows = await db.evidenceUploaderRule.findMany({ include: { group: { select: { name: true } } }, orderBy: [{ pattern: "asc" }, { createdAt: "asc" }] });
  return rows.map((r) => ({ id: r.id, pattern: r.pattern, group: r.group.name, createdBy: r.createdBy, createdAt: r.createdAt.toISOString() }));
}

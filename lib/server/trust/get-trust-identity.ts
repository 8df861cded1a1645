import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { summarizeIdentity } from "./summarize-identity";

/** One trust identity with its public material. Every signed-in role may read it, as the list. */
export async function getTrustIdentity({ actor: _actor, name }: { actor: Actor; name: string }) {
  const row = await db.trustIdentity.findUnique({ where: { name } });
  if (!row) throw new AppError("NOT_FOUND", `no trust identity ${name}`);
  return summarizeIdentity(row);
}

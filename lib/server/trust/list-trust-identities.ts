import "server-only";
import { db } from "../../db";
import { summarizeIdentity } from "./summarize-identity";
import type { Actor } from "../actor";

/** Trust identities with their public material. Every signed-in role may read them: they explain every verdict. */
export async function listTrustIdentities({ actor: _actor }: { actor: Actor }) {
  const rows = await db.trustIdentity.findMany({ orderBy: [{ role: "asc" }, { name: "asc" }] });
  return rows.map(summarizeIdentity);
}

export type TrustIdentitySummary = Awaited<ReturnType<typeof listTrustIdentities>>[number];

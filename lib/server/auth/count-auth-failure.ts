import "server-only";
import { db } from "../../db";

/**
 * What failed. "cross-site" is a signed-in user's request refused by the cross-site checks (api-handler.ts): a page on
 * another site can send those in a loop from the user's browser, so they are counted too; its source is the user's
 * e-mail, not an address, because the flood is in that user's name.
 */
export type AuthFailureKind = "signin" | "token" | "session" | "client-cert" | "webhook" | "cross-site";

/**
 * Counts a failed authentication in the row for its source, kind and minute (one upsert, no chain lock), instead of
 * adding one audit row each: a flood of wrong passwords or garbage tokens costs one row per source per minute and
 * never queues approvals behind the audit chain's lock. Successful sign-ins and refusals of signed-in users are
 * still audited one by one (cross-site refusals: the first of each user's minute). Returns the count so far in this
 * minute (1 for the first), for callers that audit the first occurrence of each minute and count the rest.
 */
export async function countAuthFailure({ source, kind }: { source: string; kind: AuthFailureKind }): Promise<number> {
  const rows = await db.$queryRaw<{ count: number }[]>`
    INSERT INTO auth_failure_counts (minute, source, kind, count)
    VALUES (date_trunc('minute', now()), ${source.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, 100)}, ${kind}, 1)
    ON CONFLICT (minute, source, kind) DO UPDATE SET count = auth_failure_counts.count + 1
    RETURNING count`;
  return rows[0]?.count ?? 1;
}

/** Failed authentications since `since`, per source and kind, most first (for the audit page). */
export async function summarizeAuthFailures({ since, limit = 20 }: { since: Date; limit?: number }) {
  const rows = await db.$queryRaw<{ source: string; kind: string; count: bigint; last: Date }[]>`
    SELECT source, kind, SUM(count)::bigint AS count, MAX(minute) AS last
    FROM auth_failure_counts WHERE minute >= ${since}
    GROUP BY source, kind ORDER BY SUM(count) DESC, source LIMIT ${limit}`;
  return rows.map((r) => ({ source: r.source, kind: r.kind, count: Number(r.count), last: r.last }));
}

import "server-only";
import { Prisma } from "../../db";

/**
 * Four eyes over password lineage. An account whose password another user set (users.password_lineage_ids, see
 * users/password-standing.ts) may be that user: they knew the password, and "setting one's own" afterwards needs only
 * that password, so nothing tells the owner from them (found by review: an admin set bob's password, changed it "as
 * bob" and approved as bob, a 2-of-2 by one person with no break-glass marker). So an approval counts as its reviewer
 * and as every user their password descended from when they approved (reviews.reviewer_lineage_ids), and two
 * approvals that share a person are one: the later one is refused at review, and not counted at the Nth nor when the
 * quorum is re-evaluated. The lineage lasts until the operator resets the password with the CLI.
 */

/** A user a password descends from. */
export interface LineagePerson {
  id: string;
  email: string;
}

/** An approving account as four eyes sees it: itself, and the users its password descended from. */
export interface ApproverPersons {
  id: string;
  email: string;
  lineage: readonly LineagePerson[];
}

const UNTIL = "an account counts as whoever set its password until the operator resets it with the CLI";

/**
 * Why `candidate` may be the requester or the same person as one of the `earlier` counted approvals, or null. `you`:
 * worded for the reviewer themselves (the refusal), otherwise about them (the approvals not counted).
 */
export function lineageConflict(
  candidate: ApproverPersons,
  requesterId: string | null,
  earlier: readonly ApproverPersons[],
  you: boolean,
  requesterLineage: readonly LineagePerson[] = [],
): string | null {
  const their = you ? "your" : "their";
  const why = (s: string) => `${s}; four eyes: ${UNTIL}`;
  const viaRequester = requesterId ? candidate.lineage.find((p) => p.id === requesterId) : undefined;
  if (viaRequester) return why(`${their} password descends from one set by ${viaRequester.email}, who requested this promotion`);
  // The requester too may be whoever set their password: an admin who set a developer's, requested as them and
  // approved as themselves would be one person on both sides.
  if (requesterLineage.some((p) => p.id === candidate.id)) return why(`the requester's password descends from one set by ${you ? "you" : "this account"}`);
  const sharedWithRequester = candidate.lineage.find((p) => requesterLineage.some((q) => q.id === p.id));
  if (sharedWithRequester) return why(`${their} password and the requester's descend from one set by ${sharedWithRequester.email}`);
  for (const other of earlier) {
    if (other.lineage.some((p) => p.id === candidate.id))
      return why(`the password of ${other.email}, who ${you ? "already " : "also "}approved, descends from one set by ${you ? "you" : "this account"}`);
    if (candidate.lineage.some((p) => p.id === other.id))
      return why(`${their} password descends from one set by ${other.email}, who ${you ? "already " : "also "}approved`);
    const shared = candidate.lineage.find((p) => other.lineage.some((q) => q.id === p.id));
    if (shared) return why(`${their} password and that of ${other.email}, who ${you ? "already " : "also "}approved, descend from one set by ${shared.email}`);
  }
  return null;
}

/**
 * A user's password lineage as a JSON array of {id, email}, in SQL text; `ids` is an expression of type uuid[]. An
 * id whose user is gone shows as the id (it matches nobody either way).
 */
export function lineageJson(ids: string): string {
  return `(SELECT COALESCE(json_agg(json_build_object('id', pl.id, 'email', COALESCE(plu.email, pl.id::text)) ORDER BY pl.n), '[]'::json)
             FROM unnest(${ids}) WITH ORDINALITY AS pl(id, n) LEFT JOIN users plu ON plu.id = pl.id)`;
}

/** A user's current password lineage (lineageJson), `[]` for none or no such user; `userId` is a SQL uuid expression. */
export function userLineageSql(userId: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`COALESCE((SELECT ${Prisma.raw(lineageJson("me.password_lineage_ids"))} FROM users me WHERE me.id = ${userId}), '[]'::json)`;
}

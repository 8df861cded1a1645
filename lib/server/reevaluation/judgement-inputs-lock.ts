import "server-only";
import type { Tx } from "../../db";
import { ADVISORY_LOCKS } from "../advisory-locks";

/**
 * The lock between approvals and changes to what they are judged by (trust identities, stage settings). A change
 * requests re-evaluation of the standing approvals in its transaction, and the re-evaluation reads them after it
 * commits; an approval judged on the old inputs and committed after that read would never be judged again. So a change
 * takes this lock exclusively ("change") and waits for approvals in flight; an approval's review transaction takes it
 * shared ("approve", approvals do not wait for each other) and waits for a change in flight, then reads the new inputs.
 * Taken first in the transaction, before any row lock, so the order is the same everywhere.
 */
export async function lockJudgementInputs(tx: Tx, mode: "change" | "approve"): Promise<void> {
  if (mode === "change") await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.judgementInputs}::int, 0)`;
  else await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${ADVISORY_LOCKS.judgementInputs}::int, 0)`;
}

import "server-only";
import { db, type Tx } from "../../db";
import { ADVISORY_LOCKS } from "../advisory-locks";

/**
 * Approvals in flight and the re-evaluation that must see them. Every change to what approvals are judged by (trust, a
 * stage's settings, a waiver, a user or group, evidence, advisories) requests re-evaluation in its transaction, and the
 * re-evaluation reads the standing approvals after it commits. An approval judged on the old inputs in a transaction
 * that commits after that read would never be judged again. So an approval's review transaction takes this lock
 * shared (first, before any row lock; approvals never wait for each other), and the re-evaluation, once it has
 * claimed its requests (whose changes have committed), waits for the lock exclusively in a transaction of its own
 * (approvalsInFlightBarrier): every approval in flight has then committed and is read, and any later one reads the new
 * inputs. Approvals wait only for that moment, not for the re-evaluation's work.
 */
export async function lockJudgementInputsShared(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${ADVISORY_LOCKS.judgementInputs}::int, 0)`;
}

/** Returns once every approval transaction that was in flight when it was called has ended (see above). */
export async function approvalsInFlightBarrier(): Promise<void> {
  await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADVISORY_LOCKS.judgementInputs}::int, 0)`;
  });
}

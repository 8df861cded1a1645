import "server-only";

/** At most this many lookups in one statement; more wait for the next one. */
const MAX_BATCH = 100;
/**
 * Groups in flight at once. Two, not one: a statement stuck on a connection (a network stall, a lock) must not hold
 * every other lookup of this replica behind it; the others keep flowing through the second slot.
 */
const MAX_IN_FLIGHT = 2;

type Waiting<I, R> = { input: I; resolve: (r: R) => void; reject: (e: unknown) => void };

/**
 * Groups the reads that concurrent requests of this replica make into shared statements (issue 17): `run` answers
 * a list of inputs with one result per input, in order, in one round trip. A lookup made while fewer than MAX_IN_FLIGHT are
 * in flight is sent at once, so an idle server adds no delay; lookups made while both slots are busy wait for one and
 * then go together (at most MAX_BATCH per statement). Under load this turns n round trips, n statements and n pool
 * checkouts into one, which is where verify spent its CPU beyond the baseline route (the socket write and read in
 * Node, the per-statement work in Postgres).
 *
 * Nothing is cached: every caller's answer comes from a statement sent after its call, so it reads what was
 * committed before it asked, as a statement of its own would. Nothing outlives the requests waiting on it, so no
 * state is shared between replicas. When a grouped statement fails, each input is tried again alone, so one input
 * the database refuses fails only its own caller.
 */
export function groupLookups<I, R>(run: (inputs: I[]) => Promise<R[]>): (input: I) => Promise<R> {
  let queue: Waiting<I, R>[] = [];
  let inFlight = 0;

  const send = async (batch: Waiting<I, R>[]): Promise<void> => {
    try {
      const out = await run(batch.map((w) => w.input));
      batch.forEach((w, i) => w.resolve(out[i]!));
    } catch (e) {
      if (batch.length === 1) return batch[0]!.reject(e);
      await Promise.all(batch.map((w) => run([w.input]).then(([r]) => w.resolve(r!), w.reject)));
    }
  };

  const pump = (): void => {
    if (inFlight >= MAX_IN_FLIGHT || queue.length === 0) return;
    const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH);
    queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH);
    inFlight++;
    void send(batch).finally(() => {
      inFlight--;
      pump();
    });
  };

  return (input: I) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      pump();
    });
}

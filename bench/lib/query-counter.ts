// Counts the SQL statements this process sends through `pg` (which @prisma/adapter-pg uses), by leading
// keyword, with their summed latency. Observation only: the query itself and its result are untouched.
import pg from "pg";

export interface QueryCounts {
  total: number;
  byKind: Record<string, number>;
  /** Sum of per-statement latencies (statements overlap, so this can exceed wall time). */
  summedMs: number;
}

export function countQueries(): () => QueryCounts {
  const byKind = new Map<string, number>();
  let summedMs = 0;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : (((first as { text?: unknown } | null)?.text as string | undefined) ?? "");
    const kind = (/^\s*(\w+)/.exec(String(text))?.[1] ?? "?").toUpperCase();
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    const t0 = performance.now();
    const done = () => {
      summedMs += performance.now() - t0;
    };
    // pg.Pool#query passes a callback (and gets no promise back); direct client use gets a promise.
    const last = args[args.length - 1];
    if (typeof last === "function") {
      const cb = last as (...a: unknown[]) => unknown;
      args[args.length - 1] = function (this: unknown, ...cbArgs: unknown[]) {
        done();
        return cb.apply(this, cbArgs);
      };
    }
    const r = original.apply(this, args);
    if (typeof last !== "function" && r && typeof (r as Promise<unknown>).then === "function") (r as Promise<unknown>).then(done, done);
    return r;
  };
  return () => ({
    total: [...byKind.values()].reduce((a, b) => a + b, 0),
    byKind: Object.fromEntries([...byKind.entries()].sort(([, a], [, b]) => b - a)),
    summedMs,
  });
}

/** The statements counted after `before` was taken (e.g. leaving out a warm-up query). */
export function queriesSince(now: QueryCounts, before: QueryCounts): QueryCounts {
  const byKind = Object.fromEntries(
    Object.entries(now.byKind)
      .map(([k, v]) => [k, v - (before.byKind[k] ?? 0)] as const)
      .filter(([, v]) => v > 0),
  );
  return { total: now.total - before.total, byKind, summedMs: now.summedMs - before.summedMs };
}

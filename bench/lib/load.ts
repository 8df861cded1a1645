// An open-loop HTTP load generator: request i is due at t0 + i / rate whatever happened to the earlier ones,
// and its latency is measured from that due time, not from when it was sent. A server that stalls therefore
// shows its queueing in the figures instead of slowing the generator down (coordinated omission). Requests go
// over a keep-alive undici Pool; when every connection is busy they wait in the pool's queue, and that wait
// counts too.
import { readFileSync, readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";

export interface LoadRequest {
  method: "GET" | "POST" | "PUT";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Latencies are also reported per label. */
  label?: string;
  /** A reason when the answer is wrong (status or body), else null. Wrong answers count as errors. */
  check?: (status: number, body: string) => string | null;
}

export interface LoadOptions {
  origin: string;
  /** Arrivals per second. */
  rate: number;
  /** Sent at the same rate first, not measured. */
  warmupS: number;
  durationS: number;
  /** Keep-alive connections in the pool. */
  connections: number;
  timeoutMs: number;
  /** The i-th request (i counts warm-up requests too). */
  request: (i: number) => LoadRequest;
  /** Processes whose CPU time (with their descendants) is measured over the measured window, by name. */
  cpuOf?: Record<string, number>;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  rate: number;
  warmupS: number;
  durationS: number;
  connections: number;
  /** Measured requests (those due inside the measured window). */
  requests: number;
  /** Measured requests answered (an HTTP response within the timeout), correct or not. */
  completed: number;
  /** Completed measured requests per second of the measured window (until the last one finished). */
  achievedRps: number;
  errors: number;
  errorsByKind: Record<string, number>;
  /** From the due time to the end of the response body: what a client arriving on schedule sees. */
  latencyMs: Percentiles;
  /** From the moment the generator handed the request to the pool; the difference to latencyMs is lateness of the generator. */
  serviceMs: Percentiles;
  /** latencyMs per request label. */
  byLabel: Record<string, Percentiles>;
  /** How late the generator itself sent requests (event-loop lag of this process): if large, the client is a bottleneck. */
  sendLagMs: { p99: number; max: number };
  /** CPU of the load generator's process over the measured window, in cores. */
  generatorCores: number;
  /** CPU of each cpuOf process tree over the measured window, in cores (null when unknown). */
  cores: Record<string, number | null>;
}

export function percentiles(values: ArrayLike<number>): Percentiles {
  const xs = Float64Array.from(values).sort();
  const n = xs.length;
  if (n === 0) return { p50: NaN, p90: NaN, p95: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  const q = (p: number) => xs[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (const x of xs) sum += x;
  return { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), p999: q(0.999), max: xs[n - 1]!, mean: sum / n };
}

const CLK_TCK = 100;

/** User + system CPU of a process and all its descendants, in ms (Linux /proc; null elsewhere). */
export function processTreeCpuMs(pid: number): number | null {
  try {
    const children = new Map<number, number[]>();
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${name}/stat`, "utf8");
      } catch {
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    }
    let ticks = 0;
    const stack = [pid];
    while (stack.length) {
      const p = stack.pop()!;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // fields[11] = utime, fields[12] = stime (fields 14 and 15 of proc(5), counted from state = 3); fields[13],
        // fields[14] = cutime, cstime: the CPU of children that ended and were reaped (a Postgres backend whose
        // connection the pool closed, an autovacuum worker), which would otherwise vanish from the tree's sum.
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      } catch {
        continue;
      }
      stack.push(...(children.get(p) ?? []));
    }
    return (ticks * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

export async function runOpenLoop(opts: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(opts.origin, {
    connections: opts.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
  });
  const interval = 1000 / opts.rate;
  const warm = Math.round(opts.warmupS * opts.rate);
  const total = warm + Math.round(opts.durationS * opts.rate);
  const measured = total - warm;
  const latency = new Float64Array(measured);
  const finished = new Uint8Array(measured);
  let abandoned = false;
  const service = new Float64Array(measured);
  const lag = new Float64Array(measured);
  const labels: (string | undefined)[] = new Array(measured);
  let completed = 0;
  let lastEnd = 0;
  const errorsByKind: Record<string, number> = {};
  const fail = (kind: string) => (errorsByKind[kind] = (errorsByKind[kind] ?? 0) + 1);
  const inFlight = new Set<Promise<void>>();

  const t0 = performance.now() + 20;
  const windowStart = t0 + warm * interval;
  const treeCpu = () => Object.fromEntries(Object.entries(opts.cpuOf ?? {}).map(([name, pid]) => [name, processTreeCpuMs(pid)]));
  let cpuAtWindow: { gen: NodeJS.CpuUsage; trees: Record<string, number | null> } | null = null;

  const fire = (i: number, due: number) => {
    const r = opts.request(i);
    const sent = performance.now();
    const m = i - warm;
    if (m >= 0) {
      lag[m] = sent - due;
      labels[m] = r.label;
    }
    const p = (async () => {
      let reason: string | null = null;
      let answered = false;
      try {
        const res = await pool.request({ origin: opts.origin, path: r.path, method: r.method, headers: r.headers, body: r.body });
        const text = await res.body.text();
        answered = true;
        reason = r.check ? r.check(res.statusCode, text) : res.statusCode >= 400 ? `HTTP ${res.statusCode}` : null;
      } catch (e) {
        reason = (e as { code?: string }).code ?? (e as Error).name ?? "error";
      }
      const end = performance.now();
      if (m < 0 || abandoned) return;
      finished[m] = 1;
      latency[m] = end - due;
      service[m] = end - sent;
      if (answered) completed++;
      lastEnd = Math.max(lastEnd, end);
      if (reason) fail(reason);
    })();
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (!cpuAtWindow && now >= windowStart) cpuAtWindow = { gen: process.cpuUsage(), trees: treeCpu() };
      while (next < total && t0 + next * interval <= now) {
        fire(next, t0 + next * interval);
        next++;
      }
      if (next >= total) return resolve();
      // Timers fire about a millisecond late at best; due requests are sent in a burst on wake-up and their
      // lateness is part of their latency.
      setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, t0 - performance.now()));
  });
  // An overloaded server is given timeoutMs after the last due time; what is still unanswered then counts as
  // an error, with the time waited so far as its latency (a lower bound), and the connections are dropped.
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    Promise.allSettled([...inFlight]).then(() => true),
    new Promise<boolean>((r) => (drainTimer = setTimeout(() => r(false), Math.max(0, t0 + total * interval + opts.timeoutMs - performance.now())))),
  ]);
  clearTimeout(drainTimer);
  if (!drained) {
    abandoned = true;
    const now = performance.now();
    for (let m = 0; m < measured; m++) {
      if (finished[m]) continue;
      latency[m] = now - (t0 + (warm + m) * interval);
      service[m] = latency[m]!;
      fail("unanswered when the run ended");
    }
    lastEnd = now;
  }
  const windowEnd = Math.max(lastEnd, t0 + total * interval);
  const gen = process.cpuUsage((cpuAtWindow as { gen: NodeJS.CpuUsage } | null)?.gen);
  const treesAfter = treeCpu();
  if (drained) await pool.close();
  else await pool.destroy();

  const windowMs = windowEnd - windowStart;
  const trees0 = (cpuAtWindow as { trees: Record<string, number | null> } | null)?.trees ?? {};
  const lagP = percentiles(lag);
  const perLabel = new Map<string, number[]>();
  for (let m = 0; m < measured; m++) {
    const l = labels[m];
    if (l === undefined) continue;
    const xs = perLabel.get(l) ?? [];
    xs.push(latency[m]!);
    perLabel.set(l, xs);
  }
  return {
    rate: opts.rate,
    warmupS: opts.warmupS,
    durationS: opts.durationS,
    connections: opts.connections,
    requests: measured,
    completed,
    achievedRps: completed / ((lastEnd - windowStart) / 1000),
    errors: Object.values(errorsByKind).reduce((a, b) => a + b, 0),
    errorsByKind,
    latencyMs: percentiles(latency.subarray(0, measured)),
    serviceMs: percentiles(service.subarray(0, measured)),
    byLabel: Object.fromEntries([...perLabel.entries()].map(([l, xs]) => [l, percentiles(xs)])),
    sendLagMs: { p99: lagP.p99, max: lagP.max },
    generatorCores: (gen.user + gen.system) / 1000 / windowMs,
    cores: Object.fromEntries(
      Object.entries(treesAfter).map(([name, after]) => {
        const before = trees0[name];
        return [name, after != null && before != null ? (after - before) / windowMs : null];
      }),
    ),
  };
}

/** One request at a time, `n` times: the latency without queueing, and so roughly what one request costs. */
export async function runSequential(opts: { origin: string; n: number; request: (i: number) => LoadRequest }): Promise<Percentiles & { errors: number }> {
  const pool = new Pool(opts.origin, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
  const xs: number[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < opts.n; i++) {
      const r = opts.request(i);
      const t0 = performance.now();
      const res = await pool.request({ origin: opts.origin, path: r.path, method: r.method, headers: r.headers, body: r.body });
      const text = await res.body.text();
      xs.push(performance.now() - t0);
      if (r.check ? r.check(res.statusCode, text) : res.statusCode >= 400) errors++;
    }
  } finally {
    await pool.close();
  }
  return { ...percentiles(xs), errors };
}

import { performance } from "node:perf_hooks";
import { spawn } from "node:child_process";
// Small helpers shared by the benchmarks.
import { readFileSync } from "node:fs";

/** Runs fn over items with at most `limit` in flight, like the sync's own mapLimit. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
}

/** Peak resident set size of this process in bytes: VmHWM from /proc when available, else resourceUsage. */
export function peakRssBytes(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m?.[1]) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

export const MiB = 1024 * 1024;

export function fmtMs(ms: number): string {
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(2)} min (${Math.round(ms)} ms)`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A plain aligned text table. */
export function textTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const sep = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join("\n");
}

/**
 * Runs a bench child script with tsx under the react-server condition (lib/server imports "server-only"),
 * optionally feeding `input` as JSON on stdin, and returns the JSON it prints on its `marker` line.
 * Other stdout lines are passed to `log`. BENCH_CPU_PROF_DIR=<dir> makes the child write a V8 CPU profile;
 * BENCH_CHILD_NODE_FLAGS="--trace-gc …" passes diagnostic flags to the child (V8 flags are refused in NODE_OPTIONS).
 */
export function runBenchChild<T>(opts: {
  root: string;
  script: string;
  env: NodeJS.ProcessEnv;
  marker: string;
  input?: unknown;
  log: (line: string) => void;
}): Promise<T & { processMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const prof = process.env.BENCH_CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`] : [];
    const flags = (process.env.BENCH_CHILD_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean);
    const child = spawn(process.execPath, [...prof, ...flags, "--conditions=react-server", "--import", "tsx", opts.script], {
      cwd: opts.root,
      env: opts.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "inherit"],
    });
    let out: T | null = null;
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith(opts.marker)) out = JSON.parse(line.slice(opts.marker.length)) as T;
        else if (line.trim()) opts.log(line);
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0 && out) resolve({ ...out, processMs: performance.now() - t0 });
      else reject(new Error(`${opts.script} exited with ${signal ?? `code ${code}`}${out ? "" : " without a result"}`));
    });
    if (opts.input !== undefined) child.stdin!.end(JSON.stringify(opts.input));
  });
}

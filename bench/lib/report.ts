/** What a benchmark hands back to bench/run.ts, which prints it and writes bench/results/<name>.json. */
export interface BenchmarkReport<F = unknown> {
  /** File name under bench/results/, without .json. */
  name: string;
  title: string;
  /** A table; the first row is the header. */
  rows: string[][];
  /** Extra lines printed under the table. */
  details: string[];
  /** Written as JSON. */
  figures: F;
  /**
   * The issue-17 goal ratios this benchmark measures, by their names in bench/results/summary.json
   * (e.g. "verify_max_rate_vs_baseline"), each with the raw figures it was computed from and its goal.
   * bench/run.ts merges them into summary.json (ratios from benchmarks not run this time are kept).
   */
  ratios?: Record<string, RatioResult>;
  /** Correctness problems that make the figures meaningless (never timing): the run exits 1. */
  problems: string[];
}

/** One goal ratio: value = measured / baseline, both measured in the same run. */
export interface RatioResult {
  value: number;
  /** e.g. ">= 0.9" or "<= 2.0". */
  goal: `>= ${number}` | `<= ${number}` | "report only";
  /** The raw figures behind the ratio (units in the names, e.g. { appP95Ms, rawP95Ms }). */
  raw: Record<string, number | string>;
}

export function meetsGoal(r: RatioResult): boolean | null {
  if (r.goal === "report only") return null;
  const [op, n] = r.goal.split(" ") as [">=" | "<=", string];
  return op === ">=" ? r.value >= Number(n) : r.value <= Number(n);
}

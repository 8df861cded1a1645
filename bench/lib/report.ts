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
  /** Correctness problems that make the figures meaningless (never timing): the run exits 1. */
  problems: string[];
}

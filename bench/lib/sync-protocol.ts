// What bench/sync-child.ts prints, shared with the parent that parses it.
import type { QueryCounts } from "./query-counter";
import type { SyncResult } from "../../lib/server/images/sync-registry";

export const SYNC_RESULT_MARKER = "BENCH_SYNC_RESULT ";

export interface SyncChildOutput {
  result: SyncResult;
  /** syncRegistry() alone, measured around the call (module loading excluded). */
  wallMs: number;
  /** Peak RSS of the whole child process (VmHWM), in bytes. */
  peakRssBytes: number;
  /** RSS after the modules were loaded, before the sync started. */
  rssBeforeBytes: number;
  /** CPU time (user + system) of the child during syncRegistry(). */
  cpuMs: number;
  /** Requests the sync sent to the registry, by method and endpoint kind. */
  requests: Record<string, number>;
  /** TCP connections the sync opened to the registry. */
  connections: number;
  /** SQL statements the sync sent (through pg), by leading keyword. */
  queries: QueryCounts;
}

import "server-only";
import type { db } from "../../db";
import { readDisplayJson, syncRunErrorsColumn, syncRunStatsColumn } from "../json-columns";

type SyncRunRow = Awaited<ReturnType<typeof db.syncRun.findUniqueOrThrow>>;

/**
 * A sync run with its JSON columns read for display: the stats and the errors that parse. An error entry that cannot
 * be read is listed as such rather than dropped, so the count of failed repositories stays right.
 */
export function syncRunView<R extends SyncRunRow>(run: R) {
  const ref = (column: string) => ({ table: "sync_runs", column, id: run.id });
  const errors = readDisplayJson(syncRunErrorsColumn, run.errors, ref("errors"));
  const stats = run.stats === null ? null : readDisplayJson(syncRunStatsColumn, run.stats, ref("stats")).value;
  const unreadable = errors.unreadable.map(() => ({ repository: "?", message: "(this error entry is stored in a shape this version cannot read)" }));
  return { ...run, stats, errors: [...(errors.value ?? []), ...unreadable] };
}

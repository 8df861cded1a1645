import "server-only";
import { bulkQuery, db, Prisma } from "../../db";
import { jsonColumn, syncRunErrorsColumn } from "../json-columns";
import { jsonParam } from "./manifest-rows";

/** A flush is due after this many finished repositories, or this long after the last flush, whichever comes first. */
export const PROGRESS_BATCH_REPOSITORIES = 100;
export const PROGRESS_BATCH_MS = 1000;

/**
 * The progress of one sync run, written in batches: a run over thousands of repositories used to send two
 * UPDATEs per repository (its `lastSyncedAt` and the run's `reposDone`). Now finished repositories are
 * collected and written with one UPDATE of `repositories` and one of `sync_runs` per batch. A repository's own
 * error is still written when it happens (rare, and worth seeing at once). `flush()` must be called before
 * the run is marked finished, so the final counts are exact. The last-seen time of the images the synced
 * repositories' tags point to is written in the same batch (one UPDATE, not one per repository), so a
 * re-sync that finds nothing changed writes nothing per repository.
 */
export class SyncProgress {
  private pending: string[] = [];
  private seen: string[] = [];
  private failedSinceFlush = 0;
  private lastFlush = Date.now();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly syncRunId: string,
    private readonly registryId: string,
    private readonly errors: { repository: string; message: string }[],
    private readonly opts: { batch?: number; intervalMs?: number } = {},
  ) {}

  /** A repository synced without error; `seenImageIds`: its stored images that tags point to now. */
  async succeeded(repository: string, seenImageIds: string[] = []): Promise<void> {
    this.pending.push(repository);
    for (const id of seenImageIds) this.seen.push(id);
    await this.maybeFlush();
  }

  /** A repository failed: its error is stored now; the run's counters follow in the next batch. */
  async failed(repository: string, message: string): Promise<void> {
    await db.repository.updateMany({ where: { registryId: this.registryId, name: repository }, data: { lastError: message, lastSyncedAt: new Date() } });
    this.failedSinceFlush++;
    await this.maybeFlush();
  }

  private async maybeFlush(): Promise<void> {
    const due =
      this.pending.length + this.failedSinceFlush >= (this.opts.batch ?? PROGRESS_BATCH_REPOSITORIES) ||
      Date.now() - this.lastFlush >= (this.opts.intervalMs ?? PROGRESS_BATCH_MS);
    if (due) await this.flush();
  }

  /** Writes what has been collected. Flushes run one after the other, each with what was pending when it started. */
  flush(): Promise<void> {
    const names = this.pending;
    const failed = this.failedSinceFlush;
    const seen = this.seen;
    this.pending = [];
    this.seen = [];
    this.failedSinceFlush = 0;
    this.lastFlush = Date.now();
    const next = this.chain.then(() => this.write(names, failed, seen));
    // A failed write is reported to the caller that triggered it; later flushes still run.
    this.chain = next.catch(() => {});
    return next;
  }

  /**
   * One statement per batch (bulkQuery, no Prisma query compiler): the images' last-seen time, the synced
   * repositories' lastSyncedAt (their error cleared), and the run's counter (and its errors when some failed).
   * The three UPDATEs are CTEs of one statement, so they commit together.
   */
  private async write(names: string[], failed: number, seen: string[]): Promise<void> {
    if (names.length === 0 && failed === 0) return;
    const now = new Date();
    const errors = failed ? jsonParam(jsonColumn(syncRunErrorsColumn, this.errors.slice(0, 200))) : null;
    // Only the CTEs with something to write are sent (a cold sync has no stored images to mark seen).
    const ctes: Prisma.Sql[] = [];
    if (seen.length) ctes.push(Prisma.sql`seen AS (UPDATE images SET last_seen_at = ${now}::timestamptz WHERE id = ANY(${seen}::uuid[]) RETURNING 1)`);
    if (names.length) {
      ctes.push(Prisma.sql`repos AS (
        UPDATE repositories SET last_synced_at = ${now}::timestamptz, last_error = NULL
         WHERE registry_id = ${this.registryId}::uuid AND name = ANY(${names}::text[]) RETURNING 1)`);
    }
    await bulkQuery(Prisma.sql`
      ${ctes.length ? Prisma.sql`WITH ${Prisma.join(ctes, ",\n")}` : Prisma.empty}
      UPDATE sync_runs SET repos_done = repos_done + ${names.length + failed}::int, errors = COALESCE(${errors}::jsonb, errors)
       WHERE id = ${this.syncRunId}::uuid`);
  }
}

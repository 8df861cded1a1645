import { createHash } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient, type Prisma } from "./generated/prisma/client";
import { env } from "./env";

export { Prisma } from "./generated/prisma/client";

/**
 * Secret columns, left out of every query result unless a query asks for one with `omit: { <column>: false }` (or
 * selects it). A plain findMany of users, tokens, keys or webhooks cannot leak them into a response or a log;
 * lib/server/secret-columns.int.test.ts proves it against the real database. Registry credentials are not in the
 * list: nearly every registry read builds a client with them (registryClient), they are sealed under the master key,
 * and registryView is the only shape APIs return.
 */
export const SECRET_COLUMNS = {
  user: { passwordHash: true },
  apiToken: { tokenHash: true },
  signingKey: { encryptedPrivateKey: true },
  auditKey: { encryptedPrivateKey: true },
  webhook: { secret: true },
} as const;

/**
 * The pool is ours (not the adapter's own) so that a transaction's connection can be found again by its backend
 * process id (txConnection): every client the pool opens is registered here once connected, with a count of its
 * checkouts, and dropped when it ends.
 */
function create() {
  // The pool is ours, so the admission hot path (pgPool), the sync's bulk statements (bulkQuery) and the streamed
  // ingest (txConnection) can use it directly; Prisma uses the same connections.
  const pool = (g.__imprimaturPool ??= new pg.Pool({
    connectionString: env().DATABASE_URL,
    max: env().DATABASE_POOL_MAX,
    idleTimeoutMillis: env().DATABASE_POOL_IDLE_SECONDS * 1000,
    // Idle connections do not keep a process alive (the CLI and scripts exit when their work is done).
    allowExitOnIdle: true,
  }));
  // The adapter listens for idle-client errors once Prisma connects; bulkQuery and pgPool may use the pool before that.
  if (pool.listenerCount("error") === 0) pool.on("error", (e) => console.error("[db] idle client error:", e.message));
  const byPid = new Map<number, PooledConnection>();
  const entries = new WeakMap<pg.PoolClient, PooledConnection>();
  pool.on("connect", (client) => {
    const pid = (client as unknown as { processID?: number }).processID;
    if (typeof pid !== "number") return;
    const entry: PooledConnection = { client, checkouts: 0, checkedOut: false };
    byPid.set(pid, entry);
    entries.set(client, entry);
    client.once("end", () => {
      if (byPid.get(pid) === entry) byPid.delete(pid);
    });
  });
  pool.on("acquire", (client) => {
    const e = entries.get(client);
    if (e) {
      e.checkouts++;
      e.checkedOut = true;
    }
  });
  pool.on("release", (_err, client) => {
    const e = entries.get(client);
    if (e) e.checkedOut = false;
  });
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  // maxWait: how long an interactive transaction waits for a pooled connection. Prisma's 2 s turns a burst (20 audited
  // writes at once on a pool of 10, on a busy host) into 500s; waiting up to 10 s answers them, only later.
  return Object.assign(new PrismaClient({ adapter, omit: SECRET_COLUMNS, transactionOptions: { maxWait: 10_000 } }), { [CLIENTS]: byPid });
}

interface PooledConnection {
  client: pg.PoolClient;
  /** How many times the pool has handed it out: a checkout other than the transaction's is another user's. */
  checkouts: number;
  checkedOut: boolean;
}

const CLIENTS = Symbol("imprimatur.pgClientsByPid");

type Db = ReturnType<typeof create>;

// One client per process. Kept on globalThis so Next's dev reloads don't open new pools.
const g = globalThis as unknown as { __imprimaturPrisma?: Db; __imprimaturPool?: pg.Pool };

export const db: Db = new Proxy({} as Db, {
  get(_t, prop) {
    g.__imprimaturPrisma ??= create();
    const v = (g.__imprimaturPrisma as unknown as Record<string | symbol, unknown>)[prop];
    return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(g.__imprimaturPrisma) : v;
  },
});

/**
 * The connection pool behind `db`, for the few statements that run at cluster request rates (verify, ImageReview:
 * lib/server/admission/evaluate-image.ts, the token lookup in auth/authenticate.ts), where Prisma's raw-query path costs more CPU than the statement. Plain
 * parameterized statements only (never string-built SQL).
 */
export function pgPool(): pg.Pool {
  g.__imprimaturPrisma ??= create();
  return g.__imprimaturPool!;
}

export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export async function disconnectDb(): Promise<void> {
  await g.__imprimaturPrisma?.$disconnect();
  g.__imprimaturPrisma = undefined;
  // disposeExternalPool: $disconnect ended the pool (if it was connected); a pool never used is ended here.
  const pool = g.__imprimaturPool;
  g.__imprimaturPool = undefined;
  if (pool && !pool.ended) await pool.end().catch(() => {});
}

/**
 * The `pg` connection an interactive transaction runs on, for statements whose parameters are too large to go
 * through Prisma (issue 17: streamed evidence chunks and component batches). Prisma serialises every raw-query
 * parameter to JSON (bytes as base64), parses it back, and both its client and its pg adapter keep the arguments of
 * their last 100 debug calls whatever DEBUG says; a query sent here is one binary Bind message, nothing retained.
 * Statements sent on it are inside the transaction (same session, between its BEGIN and COMMIT) as long as the caller
 * awaits each one before using `tx` again. Null when the connection cannot be identified (then use `tx`).
 */
export async function txConnection(tx: Tx): Promise<TxConnection | null> {
  const clients = (g.__imprimaturPrisma as unknown as { [CLIENTS]?: Map<number, PooledConnection> } | undefined)?.[CLIENTS];
  if (!clients) return null;
  const rows = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  const pid = rows[0]?.pid;
  const entry = typeof pid === "number" ? clients.get(pid) : undefined;
  if (!entry?.checkedOut) return null;
  const checkout = entry.checkouts;
  return {
    async query(text, values) {
      // Once the transaction has ended (committed, rolled back, timed out) the connection goes back to the pool
      // and may be someone else's: nothing more is sent on it. The check and the send are one synchronous step.
      // 'T': the connection's last ReadyForQuery said "inside a transaction block" (not idle, not failed).
      const ended = () => !entry.checkedOut || entry.checkouts !== checkout || entry.client.getTransactionStatus() !== "T";
      if (ended()) throw new Error("the transaction's connection was released; the statement was not sent");
      try {
        const r = await entry.client.query({ text, values });
        return r.rowCount ?? 0;
      } catch (e) {
        // Queued just before the transaction's end (a timeout's ROLLBACK): it ran outside it, where the rows it
        // references do not exist, and failed. Said as what happened rather than as a foreign-key error.
        if (ended()) throw new Error("the transaction ended (timed out or rolled back) before the statement ran; nothing was stored", { cause: e });
        throw e;
      }
    },
  };
}

/**
 * A condition true only inside a transaction that has already written (has a transaction id) before this statement:
 * a statement running on its own (autocommit) gets its id at its first write, after this InitPlan has been evaluated
 * once. (Timestamps cannot tell: over the extended protocol the implicit transaction starts at Parse, before the
 * statement's Execute.) Writes sent through txConnection put it in their WHERE and check the row count, so a statement
 * that raced the transaction's end (a timeout's ROLLBACK queued just before it) writes nothing instead of committing
 * on its own. The streamed ingest's transaction has written its document row before any of them.
 */
export const IN_TRANSACTION_BLOCK = "(SELECT txid_current_if_assigned()) IS NOT NULL";

/** A statement on a transaction's own connection; resolves to the affected row count. */
export interface TxConnection {
  query(text: string, values: unknown[]): Promise<number>;
}

/**
 * Runs ONE raw statement (a Prisma.sql template, parameters bound as $1…) on the Prisma client's own pool,
 * without Prisma's query compiler. Only for the few bulk statements of the registry sync, whose parameters carry
 * a repository's manifests (hundreds of kilobytes): Prisma 7 serializes every raw query's parameters to JSON,
 * copies them into its WebAssembly query compiler and reads the plan back out, which cost more CPU than the
 * statement itself. Results come through pg's own type parsers (json as objects, timestamps as Dates, int8 as
 * strings): select plain text/int/json columns. Not for statements inside a Prisma transaction (this is another
 * connection of the pool). `prepare: true` for a statement sent many times with the same text (the sync's per-repository
 * write): Postgres then parses it once per connection instead of every time, which halved Postgres's CPU in a cold sync.
 */
export async function bulkQuery<T>(query: Prisma.Sql, { prepare = false }: { prepare?: boolean } = {}): Promise<T[]> {
  g.__imprimaturPrisma ??= create();
  const pool = g.__imprimaturPool!;
  if (!prepare) return (await pool.query(query.text, query.values as unknown[])).rows as T[];
  // A named prepared statement: each connection parses it once (and Postgres may keep its plan), instead of once per
  // call. The name is the text's hash, so one name never stands for two texts (pg refuses that).
  const name = `imprimatur_${createHash("sha1").update(query.text).digest("hex").slice(0, 24)}`;
  return (await pool.query({ name, text: query.text, values: query.values as unknown[] })).rows as T[];
}

/** Prisma's Bytes columns take a Uint8Array backed by a plain ArrayBuffer (a Buffer may be pooled). */
export function bytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

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

function create() {
  // The pool is made here (not by the adapter) so that bulkQuery can use the very same connections.
  const pool = new pg.Pool({ connectionString: env().DATABASE_URL, max: 10 });
  // The adapter listens for idle-client errors once Prisma connects; bulkQuery may use the pool before that.
  pool.on("error", (e) => console.error("[db] idle client error:", e.message));
  g.__imprimaturPool = pool;
  const adapter = new PrismaPg(pool, { disposeExternalPool: true });
  return new PrismaClient({ adapter, omit: SECRET_COLUMNS });
}

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

export type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

export async function disconnectDb(): Promise<void> {
  await g.__imprimaturPrisma?.$disconnect();
  g.__imprimaturPrisma = undefined;
  g.__imprimaturPool = undefined;
}

/**
 * Runs ONE raw statement (a Prisma.sql template, parameters bound as $1…) on the Prisma client's own pool,
 * without Prisma's query compiler. Only for the few bulk statements of the registry sync, whose parameters carry
 * a repository's manifests (hundreds of kilobytes): Prisma 7 serializes every raw query's parameters to JSON,
 * copies them into its WebAssembly query compiler and reads the plan back out, which cost more CPU than the
 * statement itself. Results come through pg's own type parsers (json as objects, timestamps as Dates, int8 as
 * strings): select plain text/int/json columns. Not for statements inside a Prisma transaction (this is another
 * connection of the pool).
 */
export async function bulkQuery<T>(query: Prisma.Sql): Promise<T[]> {
  g.__imprimaturPrisma ??= create();
  const pool = g.__imprimaturPool!;
  return (await pool.query(query.text, query.values as unknown[])).rows as T[];
}

/** Prisma's Bytes columns take a Uint8Array backed by a plain ArrayBuffer (a Buffer may be pooled). */
export function bytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

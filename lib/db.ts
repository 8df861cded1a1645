import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "./generated/prisma/client";
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
  // The pool is ours, so the admission hot path can use it directly (pgPool); Prisma uses the same connections.
  g.__imprimaturPool ??= new pg.Pool({ connectionString: env().DATABASE_URL, max: 10 });
  const adapter = new PrismaPg(g.__imprimaturPool, { disposeExternalPool: true });
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

/**
 * The connection pool behind `db`, for the few statements that run at cluster request rates (verify, ImageReview:
 * lib/server/admission/hot-queries.ts), where Prisma's raw-query path costs more CPU than the statement. Plain
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

/** Prisma's Bytes columns take a Uint8Array backed by a plain ArrayBuffer (a Buffer may be pooled). */
export function bytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

import { PrismaPg } from "@prisma/adapter-pg";
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
  const adapter = new PrismaPg({ connectionString: env().DATABASE_URL, max: 10 });
  // maxWait: how long an interactive transaction waits for a pooled connection. Prisma's 2 s turns a burst (20 audited
  // writes at once on a pool of 10, on a busy host) into 500s; waiting up to 10 s answers them, only later.
  return new PrismaClient({ adapter, omit: SECRET_COLUMNS, transactionOptions: { maxWait: 10_000 } });
}

type Db = ReturnType<typeof create>;

// One client per process. Kept on globalThis so Next's dev reloads don't open new pools.
const g = globalThis as unknown as { __imprimaturPrisma?: Db };

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
}

/** Prisma's Bytes columns take a Uint8Array backed by a plain ArrayBuffer (a Buffer may be pooled). */
export function bytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

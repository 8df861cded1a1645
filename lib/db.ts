import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client";
import { env } from "./env";

export { Prisma } from "./generated/prisma/client";

// One client per process. Kept on globalThis so Next's dev reloads don't open new pools.
const g = globalThis as unknown as { __imprimaturPrisma?: PrismaClient };

function create(): PrismaClient {
  const adapter = new PrismaPg({ connectionString: env().DATABASE_URL, max: 10 });
  return new PrismaClient({ adapter });
}

export const db: PrismaClient = new Proxy({} as PrismaClient, {
  get(_t, prop) {
    g.__imprimaturPrisma ??= create();
    const v = (g.__imprimaturPrisma as unknown as Record<string | symbol, unknown>)[prop];
    return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(g.__imprimaturPrisma) : v;
  },
});

export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

export async function disconnectDb(): Promise<void> {
  await g.__imprimaturPrisma?.$disconnect();
  g.__imprimaturPrisma = undefined;
}

/** Prisma's Bytes columns take a Uint8Array backed by a plain ArrayBuffer (a Buffer may be pooled). */
export function bytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(b);
}

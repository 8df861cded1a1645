// bulkQuery runs a Prisma.sql statement on the Prisma client's own pool, past Prisma's query compiler: its
// parameters (text, arrays, dates, JSON) bind as Prisma binds them, its results come through pg's parsers, and it
// shares the client's connections (one pool per process) and its lifetime (disconnectDb ends both).
import { afterAll, describe, expect, it } from "vitest";
import { bulkQuery, db, disconnectDb, Prisma } from "../db";

afterAll(async () => {
  await disconnectDb();
});

describe("bulkQuery", () => {
  it("binds text, text[], timestamptz and jsonb parameters and returns json as objects and ints as numbers", async () => {
    const at = new Date("2026-12-03T12:34:56.789Z");
    const [row] = await bulkQuery<{ names: string[]; at: Date; doc: { a: number[] }; n: number }>(
      Prisma.sql`SELECT ${["a", "b'c"]}::text[] AS names, ${at}::timestamptz AS at, ${JSON.stringify({ a: [1, 2] })}::jsonb AS doc, ${41}::int + 1 AS n`,
    );
    expect(row!.names).toEqual(["a", "b'c"]);
    expect(row!.at.toISOString()).toBe(at.toISOString());
    expect(row!.doc).toEqual({ a: [1, 2] });
    expect(row!.n).toBe(42);
  });

  it("uses the Prisma client's pool: a Prisma query and bulkQuery see the same set of backends", async () => {
    const pid = async () => (await bulkQuery<{ pid: number }>(Prisma.sql`SELECT pg_backend_pid() AS pid`))[0]!.pid;
    // One connection at a time, reused: a statement through Prisma and one through bulkQuery get the same backend.
    const viaPrisma = (await db.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]!.pid;
    expect(await pid()).toBe(viaPrisma);
  });

  it("prepare: true names the statement by its text, parsed once per connection, with the same results", async () => {
    const q = (n: number) => Prisma.sql`SELECT ${n}::int * 2 AS twice, pg_backend_pid() AS pid`;
    const first = (await bulkQuery<{ twice: number; pid: number }>(q(20), { prepare: true }))[0]!;
    const second = (await bulkQuery<{ twice: number; pid: number }>(q(21), { prepare: true }))[0]!;
    expect([first.twice, second.twice]).toEqual([40, 42]);
    // One connection at a time, reused (as above): that backend holds the statement once, under its text's name.
    expect(second.pid).toBe(first.pid);
    const held = await bulkQuery<{ name: string; pid: number }>(
      Prisma.sql`SELECT name, pg_backend_pid() AS pid FROM pg_prepared_statements WHERE statement = ${q(0).text}`,
    );
    expect(held).toEqual([{ name: expect.stringMatching(/^imprimatur_[0-9a-f]{24}$/), pid: first.pid }]);
    // Unprepared, the same text leaves no named statement behind.
    const other = Prisma.sql`SELECT ${1}::int + 1 AS two`;
    await bulkQuery(other);
    expect(await bulkQuery(Prisma.sql`SELECT 1 FROM pg_prepared_statements WHERE statement = ${other.text}`)).toEqual([]);
  });

  it("works again after disconnectDb, on a new pool", async () => {
    await disconnectDb();
    const [row] = await bulkQuery<{ one: number }>(Prisma.sql`SELECT 1 AS one`);
    expect(row!.one).toBe(1);
  });
});

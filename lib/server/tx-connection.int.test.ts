import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import pg from "pg";
import { db, disconnectDb, IN_TRANSACTION_BLOCK, txConnection, type TxConnection } from "../db";

// Issue 17: statements sent on a transaction's own pg connection (streamed evidence chunks and component batches)
// belong to that transaction: they see its rows, commit and roll back with it, and nothing is sent once it has ended.
// Real Postgres; the rows are registries (no foreign keys needed).

afterAll(async () => {
  await disconnectDb();
});

const insertRegistry = (conn: TxConnection, name: string) =>
  conn.query("INSERT INTO registries (id, name, url, updated_at) VALUES (gen_random_uuid(), $1, 'http://127.0.0.1:1', now())", [name]);

describe("txConnection", () => {
  it("sends statements inside the transaction: they see its rows and are committed with it", async () => {
    const name = `txconn-commit-${randomUUID()}`;
    const seen = await db.$transaction(async (tx) => {
      const conn = await txConnection(tx);
      expect(conn).not.toBeNull();
      expect(await insertRegistry(conn!, name)).toBe(1);
      // Prisma's side of the same transaction sees the row before the commit; another connection does not.
      const inside = await tx.registry.count({ where: { name } });
      const outside = await db.registry.count({ where: { name } });
      return { inside, outside };
    });
    expect(seen).toEqual({ inside: 1, outside: 0 });
    expect(await db.registry.count({ where: { name } })).toBe(1);
    await db.registry.deleteMany({ where: { name } });
  });

  it("rolls its statements back with the transaction", async () => {
    const name = `txconn-rollback-${randomUUID()}`;
    await expect(
      db.$transaction(async (tx) => {
        const conn = await txConnection(tx);
        await insertRegistry(conn!, name);
        await tx.registry.create({ data: { name: `${name}-prisma`, url: "http://127.0.0.1:2" } });
        throw new Error("refused halfway");
      }),
    ).rejects.toThrow("refused halfway");
    expect(await db.registry.count({ where: { name: { startsWith: name } } })).toBe(0);
  });

  it("refuses to send anything once the transaction has ended, even when the connection is back in the pool", async () => {
    const name = `txconn-after-${randomUUID()}`;
    let kept: TxConnection | null = null;
    await db.$transaction(async (tx) => {
      kept = await txConnection(tx);
    });
    // The pool hands the same connection to the next user; the kept handle must not write into its session.
    await db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT 1`;
      await expect(insertRegistry(kept!, name)).rejects.toThrow(/released/);
    });
    await expect(insertRegistry(kept!, name)).rejects.toThrow(/released/);
    expect(await db.registry.count({ where: { name } })).toBe(0);
  });

  it("IN_TRANSACTION_BLOCK lets a write through inside a transaction that has written and stops it when it runs on its own", async () => {
    const name = `txconn-guard-${randomUUID()}`;
    const guarded = `INSERT INTO registries (id, name, url, updated_at) SELECT gen_random_uuid(), $1, 'http://127.0.0.1:3', now() WHERE ${IN_TRANSACTION_BLOCK}`;
    // Autocommit, as a statement that raced its transaction's ROLLBACK would run: nothing written.
    const plain = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await plain.connect();
    try {
      expect((await plain.query(guarded, [name])).rowCount).toBe(0);
    } finally {
      await plain.end();
    }
    expect(await db.registry.count({ where: { name } })).toBe(0);
    // Inside a transaction that has not written yet, it is refused too; once the transaction has written, it passes.
    await db.$transaction(async (tx) => {
      const conn = (await txConnection(tx))!;
      expect(await conn.query(guarded, [name])).toBe(0);
      await tx.registry.create({ data: { name: `${name}-first`, url: "http://127.0.0.1:4" } });
      expect(await conn.query(guarded, [name])).toBe(1);
    });
    expect(await db.registry.count({ where: { name: { startsWith: name } } })).toBe(2);
    await db.registry.deleteMany({ where: { name: { startsWith: name } } });
  });

  it("gives concurrent transactions their own connections", async () => {
    const names = [0, 1, 2].map((i) => `txconn-concurrent-${i}-${randomUUID()}`);
    // All three stay open until each has written its row: they run at the same time, on three connections.
    const barrier = () => {
      let arrived = 0;
      let open!: () => void;
      const all = new Promise<void>((r) => (open = r));
      return () => {
        if (++arrived === names.length) open();
        return all;
      };
    };
    const inserted = barrier();
    const checked = barrier();
    const outcomes = await Promise.allSettled(
      names.map((name, i) =>
        db.$transaction(async (tx) => {
          const conn = await txConnection(tx);
          await insertRegistry(conn!, name);
          await inserted();
          const [row] = await tx.$queryRaw<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
          // Each transaction sees its own row and none of the others' (uncommitted) rows.
          const visible = await tx.registry.findMany({ where: { name: { in: names } }, select: { name: true } });
          expect(visible.map((r) => r.name)).toEqual([name]);
          // None commits before all have looked (read committed would show a committed row).
          await checked();
          if (i === 1) throw new Error("the middle one is rolled back");
          return row!.pid;
        }),
      ),
    );
    expect(outcomes.map((o) => (o.status === "rejected" ? String(o.reason) : o.status))).toEqual([
      "fulfilled",
      "Error: the middle one is rolled back",
      "fulfilled",
    ]);
    const pids = outcomes.flatMap((o) => (o.status === "fulfilled" ? [o.value] : []));
    expect(new Set(pids).size).toBe(2);
    const left = await db.registry.findMany({ where: { name: { in: names } }, select: { name: true } });
    expect(left.map((r) => r.name).sort()).toEqual([names[0], names[2]].sort());
    await db.registry.deleteMany({ where: { name: { in: names } } });
  });
});

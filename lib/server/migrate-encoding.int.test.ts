// The migration runner refuses a database that is not UTF-8 (issue-17 review note): SQL's normalize() (display-name
// clashes) refuses to run there, and SQL_ASCII stores any bytes. Said before anything is created, with the way out.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { migrate } from "../../scripts/lib/migrate.mjs";
import { withDatabase } from "../../scripts/test-harness/vitest-global";

const name = `imprimatur_sqlascii_${Date.now()}`;
const admin = () => new pg.Client({ connectionString: process.env.DATABASE_URL! });

afterAll(async () => {
  const c = admin();
  await c.connect();
  await c.query(`DROP DATABASE IF EXISTS ${name}`);
  await c.end();
});

describe("the migration runner", () => {
  it("refuses a SQL_ASCII database, naming the encoding and how to create it, and creates nothing in it", async () => {
    const c = admin();
    await c.connect();
    try {
      await c.query(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    } finally {
      await c.end();
    }
    const url = withDatabase(process.env.DATABASE_URL!, name);
    await expect(migrate(url)).rejects.toThrow(
      `database ${name} uses the encoding SQL_ASCII; Imprimatur needs UTF8. Create it with: CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`,
    );
    const inside = new pg.Client({ connectionString: url });
    await inside.connect();
    try {
      const { rows } = await inside.query("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
      expect(rows[0].n).toBe(0);
    } finally {
      await inside.end();
    }
  });

  it("migrates a UTF-8 database (the test database itself: nothing left to apply)", async () => {
    expect(await migrate(process.env.DATABASE_URL!)).toEqual([]);
  });
});

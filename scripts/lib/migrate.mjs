// Applies prisma/migrations/*/migration.sql in order, keeping Prisma's own `_prisma_migrations`
// bookkeeping, so `prisma migrate status` / `deploy` (where the schema engine is available) agree.
// Prisma's migrate engine cannot run offline; this runner is the small, dependable subset we need.
import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const MIGRATIONS = join(root, "prisma", "migrations");
// The advisory lock key Prisma Migrate itself takes, so our runner and Prisma's never interleave.
const PRISMA_MIGRATE_LOCK = 72707369;

export function listMigrations() {
  return readdirSync(MIGRATIONS, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(MIGRATIONS, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(MIGRATIONS, name, "migration.sql"), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

/**
 * Imprimatur stores names, reasons and documents from every language, compares display names with SQL's
 * normalize(…, NFKC) and keeps JSON with non-ASCII text: all of which needs a UTF-8 database (SQL_ASCII takes any
 * bytes and normalize() refuses to run; LATIN1 cannot hold most of them). Refused before anything is created, with
 * the way out.
 */
export async function assertUtf8Database(client) {
  const { rows } = await client.query("SELECT current_database() AS db, current_setting('server_encoding') AS enc");
  const { db, enc } = rows[0];
  if (enc !== "UTF8")
    throw new Error(
      `database ${db} uses the encoding ${enc}; Imprimatur needs UTF8. Create it with: CREATE DATABASE "${db}" ENCODING 'UTF8' TEMPLATE template0`,
    );
}

/** Returns the names of the migrations it applied. Safe to run concurrently from several replicas. */
export async function migrate(databaseUrl, { log = () => {} } = {}) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const applied = [];
  try {
    await assertUtf8Database(client);
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0
    )`);
    const { rows } = await client.query(`SELECT migration_name, checksum, finished_at FROM "_prisma_migrations" WHERE rolled_back_at IS NULL`);
    const done = new Map(rows.map((r) => [r.migration_name, r]));
    for (const m of listMigrations()) {
      const prev = done.get(m.name);
      if (prev?.finished_at) {
        if (prev.checksum !== m.checksum) {
          throw new Error(`migration ${m.name} was modified after it was applied (checksum differs); add a new migration instead`);
        }
        continue;
      }
      if (prev && !prev.finished_at) {
        throw new Error(`migration ${m.name} failed earlier and needs manual attention (see _prisma_migrations.logs)`);
      }
      const id = randomUUID();
      await client.query("BEGIN");
      try {
        await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`, [id, m.checksum, m.name]);
        await client.query(m.sql);
        await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
        await client.query("COMMIT");
        applied.push(m.name);
        log(`applied migration ${m.name}`);
      } catch (e) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.name} failed: ${e.message}`);
      }
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [PRISMA_MIGRATE_LOCK]).catch(() => {});
    await client.end();
  }
  return applied;
}

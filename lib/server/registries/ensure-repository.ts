import "server-only";
import { db } from "../../db";

/**
 * The repository row, created if missing, in one statement. Race-safe: concurrent callers (two approvals, a
 * sync and a webhook) may all try to create it; INSERT … ON CONFLICT DO NOTHING is atomic where Prisma's upsert is
 * not. An existing row is only read (no write). When a concurrent caller inserted the row after this statement's
 * snapshot, the statement sees neither row, and the lookup is repeated once (the other insert has committed then).
 */
export async function ensureRepository(registryId: string, name: string) {
  for (let attempt = 0; attempt < 2; attempt++) {
    const rows = await db.$queryRaw<{ id: string }[]>`
      WITH found AS (SELECT id FROM repositories WHERE registry_id = ${registryId}::uuid AND name = ${name}),
           created AS (
             INSERT INTO repositories (id, registry_id, name)
             SELECT gen_random_uuid(), ${registryId}::uuid, ${name} WHERE NOT EXISTS (SELECT 1 FROM found)
             ON CONFLICT (registry_id, name) DO NOTHING
             RETURNING id)
      SELECT id::text AS id FROM found UNION ALL SELECT id::text FROM created`;
    const row = rows[0];
    if (row) return { id: row.id, registryId, name };
  }
  return db.repository.findUniqueOrThrow({ where: { registryId_name: { registryId, name } }, select: { id: true, registryId: true, name: true } });
}

import "server-only";
import { db } from "../../db";

/**
 * The repository row, created if missing. Race-safe: concurrent callers (two approvals, a sync and a webhook)
 * may all try to create it; Prisma's upsert is not atomic, INSERT … ON CONFLICT DO NOTHING is.
 */
export async function ensureRepository(registryId: string, name: string) {
  await db.repository.createMany({ data: [{ registryId, name }], skipDuplicates: true });
  return db.repository.findUniqueOrThrow({ where: { registryId_name: { registryId, name } } });
}

import "server-only";
import { getBoss, QUEUES } from "../jobs/boss";

/** Queues a confirmed bulk revocation's job (one per revocation; a retry resumes from the saved outcomes). */
export async function enqueueBulkRevocation(id: string): Promise<void> {
  const boss = await getBoss();
  await boss.send(QUEUES.bulkRevocation, { id }, { singletonKey: `bulk-revocation:${id}` });
}

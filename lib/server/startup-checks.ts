import "server-only";
import { env } from "../env";
import { assertMasterKeyUsable } from "./keys/master-key";
import { startWorkers } from "./jobs/workers";

/** Exits the process with the reason when this replica must not serve; then starts the job workers. */
export async function startupChecks(): Promise<void> {
  try {
    await assertMasterKeyUsable();
  } catch (e) {
    console.error(`\n${(e as Error).message}\n`);
    process.exit(1);
  }
  if (env().IMPRIMATUR_WORKERS) {
    startWorkers().catch((e) => console.error("[jobs] workers failed to start:", (e as Error).message));
  }
}

import "server-only";
import { assertMasterKeyUsable } from "./keys/master-key";

/** Exits the process with the reason when this replica must not serve. */
export async function startupChecks(): Promise<void> {
  try {
    await assertMasterKeyUsable();
  } catch (e) {
    console.error(`\n${(e as Error).message}\n`);
    process.exit(1);
  }
}

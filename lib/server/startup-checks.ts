import "server-only";
import { env } from "../env";
import { assertMasterKeyUsable } from "./keys/master-key";
import { oidcSettings } from "./auth/oidc";
import { startWorkers } from "./jobs/workers";
import { spoolDirectory } from "./evidence/spool-body";
import { runPendingEvidenceRecount } from "./evidence/run-pending-evidence-recount";
import { resealLegacyRegistryCredentials } from "./registries/reseal-legacy-credentials";

/** Exits the process with the reason when this replica must not serve; then starts the job workers. */
export async function startupChecks(): Promise<void> {
  try {
    await assertMasterKeyUsable();
    // A bad OIDC_ROLE_MAP would refuse every sign-in; say so at start, not at the first login.
    const oidc = oidcSettings();
    if (oidc && oidc.roleMap.size === 0) console.warn("[auth] OIDC is configured but OIDC_ROLE_MAP is empty: every OpenID Connect sign-in will be refused");
  } catch (e) {
    console.error(`\n${(e as Error).message}\n`);
    process.exit(1);
  }
  // Spool files a crashed process left behind (large uploads, issue 17) go now, not at the first upload.
  await spoolDirectory().catch((e: unknown) => console.warn("[evidence] could not prepare the upload spool directory:", (e as Error).message));
  // Registry evidence an upgrade left unjudged by the uploader rules is recounted now, not at the first tick (which
  // retries it if this fails, as does every replica's start-up: only one of them does the work).
  runPendingEvidenceRecount().catch((e: unknown) =>
    console.warn("[evidence] the pending registry evidence recount failed; the scheduler retries it:", (e as Error).message),
  );
  // Registry credentials sealed before they were bound to their URL are bound now, before a worker uses them.
  if (env().IMPRIMATUR_MASTER_KEY) {
    await resealLegacyRegistryCredentials()
      .then(({ resealed, failed }) => {
        if (resealed.length) console.log(`[registries] stored credentials bound to their registry's URL: ${resealed.join(", ")}`);
        for (const f of failed) console.warn(`[registries] could not bind the stored credentials of ${f.registry} to its URL: ${f.message}`);
      })
      .catch((e: unknown) => console.warn("[registries] binding stored credentials to their URL failed; the next start retries:", (e as Error).message));
  }
  if (env().IMPRIMATUR_WORKERS) {
    startWorkers().catch((e) => console.error("[jobs] workers failed to start:", (e as Error).message));
  }
}

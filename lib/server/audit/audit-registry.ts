import "server-only";
import { parseCheckpointTag } from "../../audit-checkpoint";
import { AppError } from "../../errors";
import type { RegistryClient } from "../../oci/client";
import { OciError } from "../../oci/digest";
import { resolveRegistry, type RegistryRow } from "../registries/resolve-registry";

/** More checkpoint tags than any installation makes (one an hour is 8,760 a year); the client's own cap is 10,000. */
export const MAX_CHECKPOINT_TAGS = 1_000_000;

/**
 * The registry audit checkpoints go to and are verified against: the one named (IMPRIMATUR_AUDIT_REGISTRY), else the
 * only one, else the one named `default` (which follows REGISTRY_URL from the environment, not a row someone could
 * add). Several registries and none of them `default` is refused with the way out, never guessed: a registry added
 * later (by an admin, or by anyone who can write the registries table) must not silently become the audit registry or
 * make verification stop reading the real one.
 */
export async function resolveAuditRegistry(name: string | undefined): Promise<RegistryRow> {
  if (name) return resolveRegistry(name);
  try {
    return await resolveRegistry();
  } catch (e) {
    // INVALID_INPUT is resolveRegistry's "several are configured".
    if (!(e instanceof AppError && e.code === "INVALID_INPUT")) throw e;
    try {
      return await resolveRegistry("default");
    } catch {
      throw new AppError("INVALID_INPUT", `${e.message}, none named default: set IMPRIMATUR_AUDIT_REGISTRY to the audit registry's name`, "registry");
    }
  }
}

/**
 * The checkpoint tags in the repository, sorted, and whether the repository exists (a 404 on its tag list). Any other
 * failure (an outage, refused credentials) throws.
 */
export async function listCheckpointTags(client: RegistryClient, repository: string): Promise<{ repositoryExists: boolean; tags: string[] }> {
  const tags: string[] = [];
  try {
    for await (const t of client.tags(repository)) if (parseCheckpointTag(t) !== null) tags.push(t);
  } catch (e) {
    if (!(e instanceof OciError && e.code === "NOT_FOUND")) throw e;
    return { repositoryExists: false, tags: [] };
  }
  tags.sort();
  return { repositoryExists: true, tags };
}

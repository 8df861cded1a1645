import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { OciError, type Digest } from "../../oci/digest";
import { registryClient, resolveRegistry, toAppError } from "../registries/resolve-registry";
import { ensureRepository } from "../registries/ensure-repository";
import { storeManifest } from "./store-manifest";

/**
 * The image row for registry/repository@digest, confirming the digest exists in the registry now. If the
 * registry is unreachable, an image already seen there is accepted: what depends on the registry (the
 * signature push) then stays pending until it is back. A platform manifest of an index is refused, because
 * cosign signs the index.
 */
export async function findOrStoreImage({ registry: registryName, repository, digest }: { registry?: string | null; repository: string; digest: Digest }) {
  const reg = await resolveRegistry(registryName);
  const client = registryClient(reg);
  const repoRow = await db.repository.findUnique({ where: { registryId_name: { registryId: reg.id, name: repository } } });
  let image = repoRow ? await db.image.findUnique({ where: { repositoryId_digest: { repositoryId: repoRow.id, digest } } }) : null;
  try {
    const head = await client.headManifest(repository, digest);
    if (!head) throw new AppError("NOT_FOUND", `registry ${reg.name} has no manifest ${repository}@${digest}`, "digest");
  } catch (e) {
    if (!(e instanceof OciError && e.code === "UNAVAILABLE" && image)) throw toAppError(e, `checking ${repository}@${digest}`);
  }
  if (!image) {
    const repo = repoRow ?? (await ensureRepository(reg.id, repository));
    try {
      const stored = await storeManifest({ client, repositoryId: repo.id, repository, digest });
      image = await db.image.findUniqueOrThrow({ where: { id: stored.id } });
    } catch (e) {
      throw toAppError(e, `reading ${repository}@${digest}`);
    }
  }
  if (image.parentDigest) {
    throw new AppError("INVALID_INPUT", `${digest} is a platform manifest of index ${image.parentDigest}; use the index, as cosign signs it`, "digest");
  }
  return { registry: reg, image };
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { assertHostAllowed } from "../../oci/ssrf";
import { OciError } from "../../oci/digest";

// Shared by the registry administration actions (create-, update-, delete-registry, …): each checks the role,
// validates the target against SSRF rules, writes its audit event in the same transaction, and returns the public view.

/** Refuses a registry URL whose host is a cloud-metadata, loopback or (unless allowed) link-local address. */
export async function checkRegistryUrl(url: string, allowLinkLocal: boolean) {
  try {
    await assertHostAllowed(new URL(url).hostname, { allowLinkLocal });
  } catch (e) {
    if (e instanceof OciError) throw new AppError("INVALID_INPUT", e.message, "url");
    throw e;
  }
}

/** The registry by name, or NOT_FOUND. */
export async function findRegistry(name: string) {
  const r = await db.registry.findUnique({ where: { name } });
  if (!r) throw new AppError("NOT_FOUND", `no registry named ${name}`, "registry");
  return r;
}

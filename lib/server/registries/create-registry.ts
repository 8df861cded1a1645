import "server-only";
import { trimTrailingSlashes } from "../../oci/reference";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { sealCredentials } from "./credentials";
import type { CreateRegistryInput } from "./registry-input";
import { registryView } from "./registry-view";
import { checkRegistryUrl } from "./find-registry";

export async function createRegistry({ actor, input }: { actor: Actor; input: CreateRegistryInput }) {
  requireRole(actor, ["admin"], "managing registries");
  await checkRegistryUrl(input.url, input.allowLinkLocal ?? false);
  return db.$transaction(async (tx) => {
    if (await tx.registry.findUnique({ where: { name: input.name } })) throw new AppError("CONFLICT", `a registry named ${input.name} exists`, "name");
    const created = await tx.registry.create({
      data: {
        name: input.name,
        url: trimTrailingSlashes(input.url),
        pullName: input.pullName ?? null,
        caBundle: input.caBundle ?? null,
        repositoryList: input.repositories ?? [],
        syncIntervalMin: input.syncIntervalMinutes ?? null,
        allowLinkLocal: input.allowLinkLocal ?? false,
        enabled: input.enabled ?? true,
      },
    });
    const withCreds = await tx.registry.update({
      where: { id: created.id },
      data: {
        // Sealed for this URL's origin and, until "Test connection" records one, no token realm.
        readCredentials: input.readCredentials ? sealCredentials(created, "read", input.readCredentials) : null,
        pushCredentials: input.pushCredentials ? sealCredentials(created, "push", input.pushCredentials) : null,
      },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "registry.create",
      target: input.name,
      detail: {
        url: withCreds.url,
        readCredentials: Boolean(input.readCredentials),
        pushCredentials: Boolean(input.pushCredentials),
        repositories: withCreds.repositoryList.length,
      },
    });
    return registryView(withCreds);
  });
}

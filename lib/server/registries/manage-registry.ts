import "server-only";
import { trimTrailingSlashes } from "../../oci/reference";
import { db } from "../../db";
import { AppError } from "../../errors";
import { assertHostAllowed } from "../../oci/ssrf";
import { OciError } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { newToken } from "../tokens/token-format";
import { sealCredentials } from "./credentials";
import type { CreateRegistryInput, UpdateRegistryInput } from "./registry-input";
import { registryView } from "./registry-view";

// Registry administration, one exported action per operation. Each checks the role, validates the target
// against SSRF rules, writes its audit event in the same transaction, and returns the public view.

async function checkUrl(url: string, allowLinkLocal: boolean) {
  try {
    await assertHostAllowed(new URL(url).hostname, { allowLinkLocal });
  } catch (e) {
    if (e instanceof OciError) throw new AppError("INVALID_INPUT", e.message, "url");
    throw e;
  }
}

async function find(name: string) {
  const r = await db.registry.findUnique({ where: { name } });
  if (!r) throw new AppError("NOT_FOUND", `no registry named ${name}`, "registry");
  return r;
}

export async function listRegistries({ actor: _actor }: { actor: Actor }) {
  const rows = await db.registry.findMany({ orderBy: { name: "asc" } });
  return rows.map(registryView);
}

export async function getRegistry({ name }: { actor: Actor; name: string }) {
  return registryView(await find(name));
}

export async function createRegistry({ actor, input }: { actor: Actor; input: CreateRegistryInput }) {
  requireRole(actor, ["admin"], "managing registries");
  await checkUrl(input.url, input.allowLinkLocal ?? false);
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
        readCredentials: input.readCredentials ? sealCredentials(created.id, "read", input.readCredentials) : null,
        pushCredentials: input.pushCredentials ? sealCredentials(created.id, "push", input.pushCredentials) : null,
      },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "registry.create",
      target: input.name,
      detail: { url: withCreds.url, readCredentials: Boolean(input.readCredentials), pushCredentials: Boolean(input.pushCredentials), repositories: withCreds.repositoryList.length },
    });
    return registryView(withCreds);
  });
}

export async function updateRegistry({ actor, name, input }: { actor: Actor; name: string; input: UpdateRegistryInput }) {
  requireRole(actor, ["admin"], "managing registries");
  const r = await find(name);
  const url = input.url !== undefined ? trimTrailingSlashes(input.url) : r.url;
  const allowLinkLocal = input.allowLinkLocal ?? r.allowLinkLocal;
  if (input.url !== undefined || input.allowLinkLocal !== undefined) await checkUrl(url, allowLinkLocal);
  const urlChanged = url !== r.url;
  // Secrets stay with the origin they were given for: a new scheme, host or port clears the sealed read and push
  // credentials unless this same request gives them again (an admin session alone must not be able to redirect
  // them to a host of its choosing).
  const originChanged = new URL(url).origin !== new URL(r.url).origin;
  const clearRead = originChanged && input.readCredentials === undefined && r.readCredentials !== null;
  const clearPush = originChanged && input.pushCredentials === undefined && r.pushCredentials !== null;
  return db.$transaction(async (tx) => {
    const updated = await tx.registry.update({
      where: { id: r.id },
      data: {
        url,
        updatedAt: new Date(),
        ...(input.pullName !== undefined ? { pullName: input.pullName } : {}),
        ...(input.caBundle !== undefined ? { caBundle: input.caBundle } : {}),
        ...(input.repositories !== undefined ? { repositoryList: input.repositories } : {}),
        ...(input.syncIntervalMinutes !== undefined ? { syncIntervalMin: input.syncIntervalMinutes } : {}),
        ...(input.allowLinkLocal !== undefined ? { allowLinkLocal: input.allowLinkLocal } : {}),
        ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
        ...(input.readCredentials !== undefined ? { readCredentials: input.readCredentials ? sealCredentials(r.id, "read", input.readCredentials) : null } : {}),
        ...(input.pushCredentials !== undefined ? { pushCredentials: input.pushCredentials ? sealCredentials(r.id, "push", input.pushCredentials) : null } : {}),
        // A new URL means a new trust decision about where credentials may go.
        ...(urlChanged ? { tokenRealm: null, pendingRealm: null } : {}),
        ...(clearRead ? { readCredentials: null } : {}),
        ...(clearPush ? { pushCredentials: null } : {}),
      },
    });
    const changed = Object.keys(input).filter((k) => k !== "readCredentials" && k !== "pushCredentials");
    await appendAuditEvent(tx, {
      actor,
      action: "registry.update",
      target: name,
      detail: {
        changed,
        readCredentials: clearRead ? "cleared: the URL's origin changed" : input.readCredentials === undefined ? "unchanged" : input.readCredentials ? "set" : "cleared",
        pushCredentials: clearPush ? "cleared: the URL's origin changed" : input.pushCredentials === undefined ? "unchanged" : input.pushCredentials ? "set" : "cleared",
      },
    });
    return registryView(updated);
  });
}

/** Approvals are evidence: a registry whose images were approved can be disabled but not deleted. */
export async function deleteRegistry({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing registries");
  const r = await find(name);
  const approvals = await db.approval.count({ where: { image: { repository: { registryId: r.id } } } });
  if (approvals > 0) throw new AppError("CONFLICT", `registry ${name} has ${approvals} approval(s), which are kept as evidence; disable it instead`);
  await db.$transaction(async (tx) => {
    await tx.registry.delete({ where: { id: r.id } });
    await appendAuditEvent(tx, { actor, action: "registry.delete", target: name, detail: { url: r.url } });
  });
  return { deleted: name };
}

export async function confirmRegistryRealm({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "confirming a token realm");
  const r = await find(name);
  if (!r.pendingRealm) throw new AppError("CONFLICT", "no changed realm is waiting for confirmation");
  return db.$transaction(async (tx) => {
    const updated = await tx.registry.update({ where: { id: r.id }, data: { tokenRealm: r.pendingRealm, pendingRealm: null, updatedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "registry.realm.confirm", target: name, detail: { from: r.tokenRealm, to: r.pendingRealm } });
    return registryView(updated);
  });
}

/** A new bearer token for the registry's notifications; shown once, stored as SHA-256. */
export async function rotateWebhookToken({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing registry notifications");
  const r = await find(name);
  const t = newToken();
  await db.$transaction(async (tx) => {
    await tx.registry.update({ where: { id: r.id }, data: { webhookTokenHash: t.hash, updatedAt: new Date() } });
    await appendAuditEvent(tx, { actor, action: "registry.webhook-token.rotate", target: name, detail: { prefix: t.prefix } });
  });
  return { token: t.token, endpoint: `/api/v1/registries/${encodeURIComponent(name)}/notifications` };
}

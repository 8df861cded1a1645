import "server-only";
import { bytes, db, type Tx } from "../../db";
import { AppError } from "../../errors";
import { OciError, type Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { RFC3161_ANNOTATION } from "../../signing/formats/cosign-cert";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent } from "../webhooks/emit-event";
import { refreshSignatures } from "../images/refresh-signatures";
import { registryClient, toAppError } from "../registries/resolve-registry";
import { lockSignatureManifest, readSigManifest } from "./signature-manifest-io";
import { timestampSignature, tsaConfigured } from "./timestamp-signature";

const MAX_MERGE_ROUNDS = 5;

export interface PushApprovalSignatureOptions {
  actor: Actor;
  approvalId: string;
}

export type PushOutcome = { status: "signed"; layerDigest: string } | { status: "signing"; error: string };

type RecordedApproval = {
  id: string;
  status: string;
  payload: Uint8Array;
  signature: string;
  layerDigest: string;
  requestId: string | null;
  timestampToken: Uint8Array | null;
  stage: { name: string };
};

/**
 * Makes the `.sig` manifest hold every recorded approval's layer (with its TSA token annotation, as cosign attaches
 * one), merging what another writer dropped and reading back after each PUT. Returns the layer digests present.
 */
async function mergeMissingLayers({
  client,
  repository,
  tag,
  recorded,
}: {
  client: ReturnType<typeof registryClient>;
  repository: string;
  tag: string;
  recorded: RecordedApproval[];
}) {
  const wanted: Descriptor[] = recorded.map((a) => ({
    mediaType: MT.cosignSimpleSigning,
    size: a.payload.byteLength,
    digest: a.layerDigest as Digest,
    annotations: {
      [SIGNATURE_ANNOTATION]: a.signature,
      // As cosign attaches a TSA token to a `.sig` layer (over the raw signature bytes).
      ...(a.timestampToken ? { [RFC3161_ANNOTATION]: JSON.stringify({ SignedRFC3161Timestamp: Buffer.from(a.timestampToken).toString("base64") }) } : {}),
    },
  }));

  let present = new Set<string>();
  for (let round = 0; ; round++) {
    const current = await readSigManifest(client, repository, tag);
    present = new Set(current.manifest?.layers.map((l) => l.digest) ?? []);
    const missing = wanted.filter((w) => !present.has(w.digest));
    if (missing.length === 0) break;
    if (round >= MAX_MERGE_ROUNDS)
      throw new AppError("REGISTRY_ERROR", `signature layers still missing after ${MAX_MERGE_ROUNDS} writes; another writer keeps replacing ${tag}`);
    for (const m of missing) {
      const a = recorded.find((r) => r.layerDigest === m.digest)!;
      await client.putBlob(repository, a.payload);
    }
    const next = appendSignatureLayers({ existing: current.manifest, existingConfig: current.config, add: missing });
    await client.putBlob(repository, next.config);
    await client.putManifest(repository, tag, next.manifest, MT.ociManifest);
  }
  return present;
}

/** Approvals whose layer is now in the registry become signed (and their requests), with webhook and audit event. */
async function markSigned(
  tx: Tx,
  {
    actor,
    recorded,
    present,
    digest,
    target,
    tag,
  }: { actor: Actor; recorded: RecordedApproval[]; present: Set<string>; digest: Digest; target: string; tag: string },
) {
  const now = new Date();
  for (const a of recorded) {
    if (a.status !== "signing" || !present.has(a.layerDigest)) continue;
    await tx.approval.update({ where: { id: a.id }, data: { status: "signed", signedAt: now, lastError: null } });
    // The request is "signed" only once its signature is in the registry.
    if (a.requestId) {
      await tx.promotionRequest.update({ where: { id: a.requestId }, data: { status: "signed", updatedAt: now } });
      await emitEvent(tx, "request.signed", { requestId: a.requestId, stage: a.stage.name, digest, repository: target, layerDigest: a.layerDigest });
    }
    await appendAuditEvent(tx, {
      actor,
      action: "signature.push",
      targetDigest: digest,
      target,
      detail: { approvalId: a.id, stage: a.stage.name, layerDigest: a.layerDigest, tag },
    });
  }
}

/**
 * Writes the approval's signature layer into the image's cosign `.sig` manifest and marks it signed.
 *
 * Registries have no conditional PUT, so writers of one digest are serialized with a Postgres advisory
 * lock (every replica shares it), and after each PUT the manifest is read back: any layer Postgres has
 * recorded for this image but the registry lacks (another tool raced us) is merged in and PUT again.
 */
/**
 * Asks the TSA for a token over the approval's signature and stores it (a concurrent retry's token stands). Returns
 * why the TSA could not be reached (the push waits for the next retry), or null.
 */
async function timestampApproval({
  actor,
  approval,
  target,
}: {
  actor: Actor;
  approval: { id: string; signature: string; image: { digest: string }; stage: { name: string } };
  target: string;
}): Promise<string | null> {
  try {
    const ts = await timestampSignature({ signature: Buffer.from(approval.signature, "base64") });
    await db.$transaction(async (tx) => {
      const set = await tx.approval.updateMany({
        where: { id: approval.id, timestampToken: null },
        data: { timestampToken: bytes(ts.token), timestampAt: ts.genTime, timestampBy: ts.by },
      });
      if (set.count === 0) return; // a concurrent retry stamped it first; its token stands
      await appendAuditEvent(tx, {
        actor,
        action: "signature.timestamp",
        targetDigest: approval.image.digest,
        target,
        detail: { approvalId: approval.id, stage: approval.stage.name, genTime: ts.genTime.toISOString(), tsa: ts.by },
      });
    });
  } catch (e) {
    if (!(e instanceof AppError) || e.code !== "TSA_UNAVAILABLE") throw e;
    await db.$transaction(async (tx) => {
      await tx.approval.update({ where: { id: approval.id }, data: { lastError: e.message, attempts: { increment: 1 } } });
      await appendAuditEvent(tx, {
        actor,
        action: "signature.timestamp",
        outcome: "failure",
        targetDigest: approval.image.digest,
        target,
        detail: { approvalId: approval.id, error: e.message },
      });
    });
    return e.message;
  }
  return null;
}

export async function pushApprovalSignature({ actor, approvalId }: PushApprovalSignatureOptions): Promise<PushOutcome> {
  const approval = await db.approval.findUnique({
    where: { id: approvalId },
    include: { image: { include: { repository: { include: { registry: true } } } }, stage: true },
  });
  if (!approval) throw new AppError("NOT_FOUND", "no such approval");
  if (approval.status === "signed") return { status: "signed", layerDigest: approval.layerDigest };
  if (approval.revokedAt) return { status: "signing", error: "the approval was revoked before its signature was pushed" };
  const { image } = approval;
  const repository = image.repository.name;
  const registry = image.repository.registry;
  const digest = image.digest as Digest;
  const client = registryClient(registry, "push");
  const tag = cosignTag(digest, "sig");

  // Trusted time first: with a TSA configured, no stage signature goes out without its token (cosign's annotation).
  if (tsaConfigured() && !approval.timestampToken) {
    const failed = await timestampApproval({ actor, approval, target: `${registry.name}/${repository}` });
    if (failed) return { status: "signing", error: failed };
  }

  try {
    await db.$transaction(
      async (tx) => {
        await lockSignatureManifest(tx, registry.id, repository, digest);
        // A revoked approval's layer is never written again (its revocation removes it under this same lock).
        const recorded = await tx.approval.findMany({
          where: { imageId: image.id, revokedAt: null },
          orderBy: { createdAt: "asc" },
          select: {
            id: true,
            status: true,
            payload: true,
            signature: true,
            layerDigest: true,
            requestId: true,
            timestampToken: true,
            stage: { select: { name: true } },
          },
        });
        const present = await mergeMissingLayers({ client, repository, tag, recorded });
        await markSigned(tx, { actor, recorded, present, digest, target: `${registry.name}/${repository}`, tag });
      },
      { timeout: 120_000, maxWait: 60_000 },
    );
  } catch (e) {
    const err = toAppError(e, `pushing the signature to ${registry.name}`);
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof AppError) || !["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR", "NOT_FOUND"].includes(err.code)) throw err;
    await db.$transaction(async (tx) => {
      await tx.approval.update({ where: { id: approvalId }, data: { lastError: message, attempts: { increment: 1 } } });
      await appendAuditEvent(tx, {
        actor,
        action: "signature.push",
        outcome: "failure",
        targetDigest: digest,
        target: `${registry.name}/${repository}`,
        detail: { approvalId, error: message },
      });
    });
    return { status: "signing", error: message };
  }

  // Show the new signature with its verdict right away; a failure here only delays that until the next sync.
  try {
    await refreshSignatures({ client, imageId: image.id, repository, digest });
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
  }
  return { status: "signed", layerDigest: approval.layerDigest };
}

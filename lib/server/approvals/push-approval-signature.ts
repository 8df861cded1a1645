import "server-only";
import { bytes, db, Prisma, type Tx } from "../../db";
import { AppError } from "../../errors";
import { OciError, type Digest } from "../../oci/digest";
import type { Descriptor, ImageManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { RFC3161_ANNOTATION } from "../../signing/formats/cosign-cert";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { emitEvent, ENABLED_WEBHOOKS_JSON, type EnabledWebhook } from "../webhooks/emit-event";
import { refreshSignatures } from "../images/refresh-signatures";
import { registryClient, toAppError } from "../registries/resolve-registry";
import { lockSignatureManifest, readSigConfig, readSigManifestOnly } from "./signature-manifest-io";
import { timestampSignature, tsaConfigured } from "./timestamp-signature";
import { recordRevocation } from "./record-revocation";

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
 * one), merging what another writer dropped and reading back after each PUT. Returns the layer digests of the
 * approvals whose layer is present.
 *
 * A layer is present only with the recorded signature: its digest binds the payload, not the signature annotation,
 * so a layer of the same digest carrying junk (or another key's signature over the public payload) is not ours, and
 * ours is appended beside it.
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
  let manifest: ImageManifest | null = null;
  for (let round = 0; ; round++) {
    // The layers decide whether a write is needed; the config is read only to write (a read-back needs only the layers).
    manifest = await readSigManifestOnly(client, repository, tag);
    const layers = manifest?.layers ?? [];
    const missing = wanted.filter(
      (w) => !layers.some((l) => l.digest === w.digest && l.annotations?.[SIGNATURE_ANNOTATION] === w.annotations![SIGNATURE_ANNOTATION]),
    );
    present = new Set(wanted.filter((w) => !missing.includes(w)).map((w) => w.digest));
    if (missing.length === 0) break;
    if (round >= MAX_MERGE_ROUNDS)
      throw new AppError("REGISTRY_ERROR", `signature layers still missing after ${MAX_MERGE_ROUNDS} writes; another writer keeps replacing ${tag}`);
    const existingConfig = manifest ? await readSigConfig(client, repository, manifest) : null;
    for (const m of missing) {
      const a = recorded.find((r) => r.layerDigest === m.digest)!;
      await client.putBlob(repository, a.payload);
    }
    const next = appendSignatureLayers({ existing: manifest, existingConfig, add: missing });
    await client.putBlob(repository, next.config);
    await client.putManifest(repository, tag, next.manifest, MT.ociManifest);
  }
  // The manifest as read back: every recorded layer is in it.
  return { present, manifest };
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
    webhooks,
  }: { actor: Actor; recorded: RecordedApproval[]; present: Set<string>; digest: Digest; target: string; tag: string; webhooks: EnabledWebhook[] },
) {
  const now = new Date();
  for (const a of recorded) {
    if (a.status !== "signing" || !present.has(a.layerDigest)) continue;
    // One statement: the approval, and its request, which is "signed" only once its signature is in the registry.
    await tx.$executeRaw`
      WITH signed AS (
        UPDATE approvals SET status = 'signed', signed_at = ${now}, last_error = NULL WHERE id = ${a.id}::uuid RETURNING request_id
      )
      UPDATE promotion_requests SET status = 'signed', updated_at = ${now} WHERE id = (SELECT request_id FROM signed)`;
    if (a.requestId)
      await emitEvent(tx, "request.signed", { requestId: a.requestId, stage: a.stage.name, digest, repository: target, layerDigest: a.layerDigest }, webhooks);
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
const keyCompromise: Actor = { kind: "system", label: "key-compromise" };

/**
 * A stage key's compromise is a standing rule, not only a list made when it is revoked: the revocation revoked the
 * key's approvals whose trusted time was then at or after the compromise time, judging one still waiting for the TSA
 * by Imprimatur's record. When the TSA's time comes in and is at or after the compromise, the approval is revoked
 * now (as the revocation would have), in the stamping transaction, so its layer is never pushed. The key row is held
 * FOR KEY SHARE: a revocation in progress is waited for and seen; one that starts later sees the new trusted time.
 * Returns why it was revoked, or null.
 */
async function revokeIfKeyCompromised(tx: Tx, approvalId: string, trustedAt: Date): Promise<string | null> {
  const [k] = await tx.$queryRaw<{ name: string; revoked_at: Date | null }[]>`
    SELECT k.name, k.revoked_at FROM approvals a JOIN signing_keys k ON k.id = a.signing_key_id
     WHERE a.id = ${approvalId}::uuid FOR KEY SHARE OF k`;
  if (!k?.revoked_at || k.revoked_at > trustedAt) return null;
  const why = `stage key ${k.name} compromised from ${k.revoked_at.toISOString()}; the signature's trusted time (TSA) ${trustedAt.toISOString()} is after it`;
  await recordRevocation(tx, { approvalId, actor: keyCompromise, reason: why, source: "key-compromise" });
  return why;
}

/**
 * Asks the TSA for a token over the approval's signature and stores it (a concurrent retry's token stands). Returns
 * why the TSA could not be reached (the push waits for the next retry), or why the approval was revoked
 * (revokeIfKeyCompromised: it is never pushed), or null.
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
    const compromised = await db.$transaction(async (tx) => {
      const set = await tx.approval.updateMany({
        where: { id: approval.id, timestampToken: null },
        data: { timestampToken: bytes(ts.token), timestampAt: ts.genTime, timestampBy: ts.by },
      });
      if (set.count === 0) return null; // a concurrent retry stamped it first; its token stands
      await appendAuditEvent(tx, {
        actor,
        action: "signature.timestamp",
        targetDigest: approval.image.digest,
        target,
        detail: { approvalId: approval.id, stage: approval.stage.name, genTime: ts.genTime.toISOString(), tsa: ts.by },
      });
      return revokeIfKeyCompromised(tx, approval.id, ts.genTime);
    });
    if (compromised) return compromised;
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

type ApprovalToPush = {
  id: string;
  status: string;
  revoked: boolean;
  /** Past its stage's TTL (approval_expiry, as verify judges it), whether or not the tick has retired it yet. */
  expired: boolean;
  has_timestamp: boolean;
  signature: string;
  layer_digest: string;
  image_id: string;
  digest: string;
  repository: string;
  stage_name: string;
  webhooks: EnabledWebhook[];
};

/**
 * The approval with its image, repository and stage names and the enabled webhooks (one statement), and its registry
 * row (another), read side by side on the pool: two round trips at once instead of six one after the other.
 */
async function loadApprovalToPush(approvalId: string) {
  const [rows, registry] = await Promise.all([
    db.$queryRaw<ApprovalToPush[]>`
      SELECT a.id, a.status::text AS status, a.revoked_at IS NOT NULL AS revoked, ${EXPIRED} AS expired, a.timestamp_token IS NOT NULL AS has_timestamp,
             a.signature, a.layer_digest, a.image_id, i.digest, rp.name AS repository, s.name AS stage_name,
             ${Prisma.raw(ENABLED_WEBHOOKS_JSON)} AS webhooks
        FROM approvals a
        JOIN images i ON i.id = a.image_id
        JOIN repositories rp ON rp.id = i.repository_id
        JOIN stages s ON s.id = a.stage_id
       WHERE a.id = ${approvalId}::uuid`,
    db.registry.findFirst({ where: { repositories: { some: { images: { some: { approvals: { some: { id: approvalId } } } } } } } }),
  ]);
  const approval = rows[0];
  if (!approval || !registry) return null;
  return { approval, registry };
}

/**
 * An approval past its stage's TTL, judged by the database clock when the statement runs (not the transaction's
 * start: the `.sig` lock may have been waited for). Its signature is never written: the scheduler tick retires it
 * (retire-expired-approvals.ts), and until then a retry or another approval's push must not put it in the registry,
 * where the generated cluster policies, which cannot see a TTL, would admit it.
 */
const EXPIRED = Prisma.raw(`COALESCE(approval_expiry(a.ages_from, s.approval_ttl_days) <= clock_timestamp(), false)`);

/**
 * Every unrevoked, unexpired approval of the image, oldest first, read under the `.sig` manifest's advisory lock.
 * With a TSA configured, an approval still waiting for its token is left out: it goes to the registry only through
 * its own push, after timestampApproval has judged its trusted time against its key's compromise time. Carried out
 * unstamped by another approval's push, it was marked signed and never judged, and a key compromised before its
 * TSA time still admitted it. (An approval signed before a TSA was configured has no token and stays.)
 */
async function recordedApprovals(tx: Tx, imageId: string): Promise<RecordedApproval[]> {
  const stamped = tsaConfigured() ? Prisma.sql`AND (a.status = 'signed' OR a.timestamp_token IS NOT NULL)` : Prisma.empty;
  // A revoked approval's layer is never written again (its revocation removes it under this same lock).
  const rows = await tx.$queryRaw<(Omit<RecordedApproval, "stage"> & { stageName: string })[]>`
    SELECT a.id, a.status::text AS status, a.payload, a.signature, a.layer_digest AS "layerDigest", a.request_id AS "requestId",
           a.timestamp_token AS "timestampToken", s.name AS "stageName"
      FROM approvals a JOIN stages s ON s.id = a.stage_id
     WHERE a.image_id = ${imageId}::uuid AND a.revoked_at IS NULL AND NOT ${EXPIRED} ${stamped}
     ORDER BY a.created_at, a.id`;
  return rows.map(({ stageName, ...a }) => ({ ...a, stage: { name: stageName } }));
}

export async function pushApprovalSignature({ actor, approvalId }: PushApprovalSignatureOptions): Promise<PushOutcome> {
  const loaded = await loadApprovalToPush(approvalId);
  if (!loaded) throw new AppError("NOT_FOUND", "no such approval");
  const { approval, registry } = loaded;
  if (approval.status === "signed") return { status: "signed", layerDigest: approval.layer_digest };
  if (approval.revoked) return { status: "signing", error: "the approval was revoked before its signature was pushed" };
  if (approval.expired)
    return { status: "signing", error: "the approval expired under its stage's TTL before its signature was pushed; it is retired, never pushed" };
  const repository = approval.repository;
  const digest = approval.digest as Digest;
  const target = `${registry.name}/${repository}`;
  const client = registryClient(registry, "push");
  const tag = cosignTag(digest, "sig");

  // Trusted time first: with a TSA configured, no stage signature goes out without its token (cosign's annotation).
  if (tsaConfigured() && !approval.has_timestamp) {
    const failed = await timestampApproval({
      actor,
      approval: { id: approval.id, signature: approval.signature, image: { digest }, stage: { name: approval.stage_name } },
      target,
    });
    if (failed) return { status: "signing", error: failed };
  }

  let pushed: { recorded: RecordedApproval[]; readBack: ImageManifest | null };
  try {
    pushed = await db.$transaction(
      async (tx) => {
        await lockSignatureManifest(tx, registry.id, repository, digest);
        const recorded = await recordedApprovals(tx, approval.image_id);
        const { present, manifest } = await mergeMissingLayers({ client, repository, tag, recorded });
        await markSigned(tx, { actor, recorded, present, digest, target, tag, webhooks: approval.webhooks });
        return { recorded, readBack: manifest };
      },
      { timeout: 120_000, maxWait: 60_000 },
    );
  } catch (e) {
    return { status: "signing", error: await recordPushFailure({ actor, approvalId, digest, target, registryName: registry.name, e }) };
  }

  // Show the new signature with its verdict right away; a failure here only delays that until the next sync. The
  // manifest is the one just read back under the lock, and the payloads are the bytes this server recorded and
  // pushed: the refresh reads from the registry only what is not among them.
  try {
    await refreshSignatures({
      client,
      imageId: approval.image_id,
      repository,
      digest,
      known: pushed.readBack ? { sigManifest: pushed.readBack, blobs: pushed.recorded.map((a) => a.payload) } : undefined,
    });
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
  }
  return { status: "signed", layerDigest: approval.layer_digest };
}

/** A push that the registry refused or could not take: recorded (attempts, last error, audit event) for the retry. */
async function recordPushFailure({
  actor,
  approvalId,
  digest,
  target,
  registryName,
  e,
}: {
  actor: Actor;
  approvalId: string;
  digest: Digest;
  target: string;
  registryName: string;
  e: unknown;
}): Promise<string> {
  const err = toAppError(e, `pushing the signature to ${registryName}`);
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof AppError) || !["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR", "NOT_FOUND"].includes(err.code)) throw err;
  await db.$transaction(async (tx) => {
    await tx.approval.update({ where: { id: approvalId }, data: { lastError: message, attempts: { increment: 1 } } });
    await appendAuditEvent(tx, {
      actor,
      action: "signature.push",
      outcome: "failure",
      targetDigest: digest,
      target,
      detail: { approvalId, error: message },
    });
  });
  return message;
}

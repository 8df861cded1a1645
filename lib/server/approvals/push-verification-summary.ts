import "server-only";
import { evidenceOnRecord } from "./evidence-on-record";
import { readSigManifest } from "./signature-manifest-io";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { gateResultsColumn, readJson } from "../json-columns";
import { stageGates } from "../stages/stage-gates";
import { OciError, sha256Digest, type Digest } from "../../oci/digest";
import type { Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { pushReferrer, removeFromReferrersIndex } from "../../oci/push-referrer";
import { cosignTag, pullReference, referrersFallbackTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { buildVsaStatement, signVsa, VSA_PREDICATE_TYPE, type VsaWaiver } from "../../signing/formats/verification-summary";
import type { Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { signWithKey } from "../keys/load-stage-signer";
import { registryClient, toAppError } from "../registries/resolve-registry";
import { instanceId } from "../stages/export-stage-policy";
import { ADVISORY_LOCKS } from "../advisory-locks";

// Advisory-lock namespaces: writers of one image's `.att` manifest; the referrers fallback tag shares push-stage-bundle's.
const ATT_LOCK_NAMESPACE = ADVISORY_LOCKS.attestationManifest;
const REFERRERS_LOCK_NAMESPACE = ADVISORY_LOCKS.referrers;
const VERSION = "0.1.0";
const SYSTEM: Actor = { kind: "system", label: "verification-summary" };

export type PushVerificationSummaryOutcome =
  | { status: "skipped"; reason: string }
  | { status: "pushed"; layerDigest: string; bundleArtifactDigest: string | null; existing: boolean }
  | { status: "pending"; error: string };

type Client = ReturnType<typeof registryClient>;

/** Thrown under the referrers lock when the summary was removed meanwhile: nothing is pushed. */
class SummaryRemoved extends Error {}

function loadApproval(approvalId: string) {
  return db.approval.findUnique({
    where: { id: approvalId },
    include: {
      image: { include: { repository: { include: { registry: true } } } },
      stage: true,
      signingKey: { select: { id: true, name: true, fingerprint: true, revokedAt: true } },
      request: { include: { reviews: { include: { reviewer: { select: { email: true } } }, orderBy: { createdAt: "asc" } } } },
    },
  });
}

type LoadedApproval = NonNullable<Awaited<ReturnType<typeof loadApproval>>>;

/**
 * The approving reviews the stage signature counted: those its payload names in `dev.imprimatur/approvers` (an
 * earlier approval whose reviewer could no longer approve at the Nth was not counted, and is not named here either).
 * A payload without the key (approvals migrated from before reviews) names every approving review; a payload we
 * cannot read fails closed, as unreadable gate results do.
 */
function countedReviews(a: LoadedApproval) {
  const approving = (a.request?.reviews ?? []).filter((r) => r.decision === "approve");
  let signed: unknown;
  try {
    signed = (JSON.parse(Buffer.from(a.payload).toString("utf8")) as { optional?: Record<string, unknown> }).optional?.["dev.imprimatur/approvers"];
  } catch {
    throw new AppError("INTERNAL", `approval ${a.id}: its signed payload cannot be read`);
  }
  if (signed === undefined) return approving;
  if (typeof signed !== "string") throw new AppError("INTERNAL", `approval ${a.id}: its signed payload names no readable approvers`);
  const ids = new Set(signed.split(","));
  return approving.filter((r) => ids.has(r.reviewerId));
}
type SummaryRow = Awaited<ReturnType<typeof db.verificationSummary.findUniqueOrThrow>>;

/**
 * Builds the approval's VSA statement (gates, waivers, the evidence on record when they were judged, approvers),
 * signs it with the stage key and commits it as a pending row; a row another replica committed first is used instead.
 */
async function createSummaryRow({
  a,
  actor,
  subjectName,
  digest,
}: {
  a: LoadedApproval;
  actor: Actor;
  subjectName: string;
  digest: Digest;
}): Promise<SummaryRow> {
  const { image } = a;
  const reviews = countedReviews(a);
  const waiverIds = [...new Set(reviews.flatMap((r) => r.waiverIds))];
  const waivers = waiverIds.length ? await db.waiver.findMany({ where: { id: { in: waiverIds } }, orderBy: { createdAt: "asc" } }) : [];
  const evidence = await evidenceOnRecord({ imageId: image.id, at: a.createdAt, excluded: [a.request?.requesterId, ...reviews.map((r) => r.reviewerId)] });
  const base = instanceId();
  // An approved request always has its judged gates on record (review-request.ts writes them with the approval). A missing
  // or unreadable record fails closed: a summary signed "PASSED" with no gates would vouch for nothing that was judged.
  const judged = a.request
    ? readJson(gateResultsColumn, a.request.gateResults, { table: "promotion_requests", column: "gate_results", id: a.request.id })
    : null;
  const gates = (judged ?? []).map((g) => ({ gate: g.gate, passed: g.passed, waived: g.waived, detail: g.detail }));
  const glassReasons = reviews.filter((r) => r.breakGlass).map((r) => r.comment);
  const statement = buildVsaStatement({
    verifierId: base,
    verifierVersion: VERSION,
    timeVerified: a.request?.decidedAt ?? a.createdAt,
    subjectName,
    subjectDigest: digest,
    stage: a.stage.name,
    policyUri: `${base}/stages#${a.stage.name}`,
    gateConfig: stageGates(a.stage),
    inputAttestations: evidence.map((e) => ({
      uri: e.source === "registry" && e.artifactDigest ? `${subjectName}@${e.artifactDigest}` : `${base}/api/v1/evidence/${e.id}`,
      digest: e.contentDigest,
    })),
    waivers: waivers.map((w): VsaWaiver => ({ id: w.id, gate: w.gate, reason: w.reason, vulnIds: w.vulnIds, expiresAt: w.expiresAt.toISOString() })),
    breakGlass: { used: Boolean(a.request?.breakGlass), ...(glassReasons.length ? { reason: glassReasons.join(" | ").slice(0, 500) } : {}) },
    approvalId: a.id,
    requestId: a.requestId,
    approvers: reviews.map((r) => r.reviewer.email),
    requiredApprovals: a.stage.requiredApprovals,
    gates,
  });
  const signed = await signVsa(
    statement,
    (pae) => signWithKey(a.signingKey.id, pae, { actor, purpose: `verification summary for approval ${a.id} (stage ${a.stage.name})`, targetDigest: digest }),
    a.signingKey.fingerprint.replace(/^sha256:/, ""),
  );
  try {
    return await db.verificationSummary.create({
      data: {
        approvalId: a.id,
        imageId: image.id,
        signingKeyId: a.signingKey.id,
        envelope: new Uint8Array(signed.envelopeBytes),
        layerDigest: sha256Digest(signed.envelopeBytes),
        bundle: a.stage.emitBundle ? new Uint8Array(signed.bundleBytes) : null,
        status: "pending",
      },
    });
  } catch (e) {
    // Another replica committed one first; push that one.
    if (!(e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002")) throw e;
    return await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: a.id } });
  }
}

/**
 * Appends the summary's DSSE layer to the `.att` manifest under its advisory lock, unless a revocation removed it
 * meanwhile ("removed") or it is there already ("present").
 */
async function appendToAttManifest({
  client,
  repository,
  tag,
  lockKey,
  summary,
  approvalId,
}: {
  client: Client;
  repository: string;
  tag: string;
  lockKey: string;
  summary: SummaryRow;
  approvalId: string;
}) {
  return db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ATT_LOCK_NAMESPACE}::int, hashtext(${lockKey}))`;
      // A revocation that removed it while we waited wins.
      const now = await tx.verificationSummary.findUniqueOrThrow({ where: { id: summary.id }, select: { status: true } });
      if (now.status === "removed") return "removed" as const;
      // An approval revoked since we loaded it gets no summary: its revocation may already have looked for one.
      const approval = await tx.approval.findUniqueOrThrow({ where: { id: approvalId }, select: { revokedAt: true } });
      if (approval.revokedAt) return "removed" as const;
      const layer: Descriptor = {
        mediaType: MT.dsseEnvelope,
        size: summary.envelope.byteLength,
        digest: summary.layerDigest as Digest,
        annotations: { [SIGNATURE_ANNOTATION]: "", predicateType: VSA_PREDICATE_TYPE },
      };
      for (let round = 0; round < 3; round++) {
        const current = await readAttManifest(client, repository, tag);
        if (current.manifest?.layers.some((l) => l.digest === summary.layerDigest)) return "present" as const;
        await client.putBlob(repository, summary.envelope);
        const next = appendSignatureLayers({ existing: current.manifest, existingConfig: current.config, add: [layer] });
        await client.putBlob(repository, next.config);
        await client.putManifest(repository, tag, next.manifest, MT.ociManifest);
      }
      throw new AppError("REGISTRY_ERROR", `the verification summary is still missing from ${tag} after 3 writes; another writer keeps replacing it`);
    },
    { timeout: 120_000, maxWait: 60_000 },
  );
}

/**
 * Attaches the SLSA verification summary of a signed approval next to its cosign signature: an in-toto VSA statement
 * signed with the approval's stage key as a DSSE envelope, appended to the image's cosign `.att` manifest and, for
 * stages that emit bundles, pushed as a Sigstore bundle referrer too. The envelope is committed (pending) before the
 * push, so a retry (the scheduler tick, `imprimatur retry`) pushes the same bytes; marked pushed only after the
 * registry has it. Runs only after the stage signature is in the registry.
 */
export async function pushVerificationSummary({ approvalId, actor = SYSTEM }: { approvalId: string; actor?: Actor }): Promise<PushVerificationSummaryOutcome> {
  const a = await loadApproval(approvalId);
  if (!a) throw new AppError("NOT_FOUND", "no such approval");
  if (a.status !== "signed") return { status: "skipped", reason: "the stage signature is not in the registry yet" };
  if (a.revokedAt) return { status: "skipped", reason: "the approval is revoked" };
  let row = await db.verificationSummary.findUnique({ where: { approvalId } });
  if (row?.status === "removed") return { status: "skipped", reason: "the verification summary was removed (approval revoked)" };
  if (row?.status === "pushed") return { status: "pushed", layerDigest: row.layerDigest, bundleArtifactDigest: row.bundleArtifactDigest, existing: true };

  const { image } = a;
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest as Digest;
  const subjectName = pullReference(registry.url, registry.pullName, repository);

  if (!row) {
    // A revoked key signs nothing more (completePendingSummaries leaves it too); an envelope signed before is pushed.
    // Skipped, not thrown: the caller may be finishing a signature pushed after the compromise of a key that signed
    // it before (finishStageSignature via completePendingSignatures), with other approvals still to retry.
    if (a.signingKey.revokedAt && a.signingKey.revokedAt <= new Date()) return { status: "skipped", reason: `the stage key ${a.signingKey.name} is revoked` };
    row = await createSummaryRow({ a, actor, subjectName, digest });
  }

  const client = registryClient(registry, "push");
  const summary = row;
  const tag = cosignTag(digest, "att");
  const lockKey = `${registry.id}/${repository}@${digest}`;
  try {
    const attOutcome = await appendToAttManifest({ client, repository, tag, lockKey, summary, approvalId });
    if (attOutcome === "removed") return { status: "skipped", reason: "the verification summary was removed (approval revoked)" };

    let bundleArtifactDigest = summary.bundleArtifactDigest;
    if (summary.bundle && !bundleArtifactDigest) {
      const pushed = await pushSummaryReferrer({ client, repository, a, summary, lockKey });
      if (!pushed) return { status: "skipped", reason: "the verification summary was removed (approval revoked)" };
      bundleArtifactDigest = pushed;
    }

    const recorded = await db.$transaction(async (tx) => {
      const updated = await tx.verificationSummary.updateMany({
        where: { id: summary.id, status: "pending" },
        data: { status: "pushed", pushedAt: new Date(), bundleArtifactDigest, lastError: null },
      });
      if (updated.count === 0) return false;
      await appendAuditEvent(tx, {
        actor,
        action: "verification-summary.push",
        targetDigest: digest,
        target: `${registry.name}/${repository}`,
        detail: {
          approvalId: a.id,
          stage: a.stage.name,
          key: a.signingKey.name,
          layerDigest: summary.layerDigest,
          tag,
          ...(bundleArtifactDigest ? { bundleArtifactDigest } : {}),
        },
      });
      return true;
    });
    if (!recorded) {
      // Removed (revoked) while the referrer was being pushed: the remover did not know of this referrer, so it goes now.
      if (bundleArtifactDigest && !summary.bundleArtifactDigest) await removeReferrer(client, repository, digest, bundleArtifactDigest as Digest, lockKey);
      return { status: "skipped", reason: "the verification summary was removed (approval revoked)" };
    }
    return { status: "pushed", layerDigest: summary.layerDigest, bundleArtifactDigest, existing: false };
  } catch (e) {
    const err = toAppError(e, `pushing the verification summary to ${registry.name}`);
    if (!(err instanceof AppError) || !["REGISTRY_UNAVAILABLE", "REGISTRY_ERROR", "NOT_FOUND"].includes(err.code)) throw err;
    await db.verificationSummary.update({ where: { id: summary.id }, data: { lastError: err.message, attempts: { increment: 1 } } });
    return { status: "pending", error: err.message };
  }
}

/**
 * Pushes the summary's Sigstore bundle as a referrer of the image. Under the referrers lock it checks that the summary
 * is still pending: a revocation since the `.att` append removed it, and then nothing is pushed (null).
 */
async function pushSummaryReferrer({
  client,
  repository,
  a,
  summary,
  lockKey,
}: {
  client: Client;
  repository: string;
  a: LoadedApproval;
  summary: SummaryRow;
  lockKey: string;
}): Promise<string | null> {
  const { image } = a;
  const digest = image.digest as Digest;
  const pushed = await pushReferrer({
    client,
    repository,
    subject: { mediaType: image.mediaType, digest, size: image.size },
    artifactType: MT.sigstoreBundleV03,
    blobBytes: summary.bundle!,
    blobMediaType: MT.sigstoreBundleV03,
    annotations: {
      "dev.sigstore.bundle.content": "dsse-envelope",
      "dev.sigstore.bundle.predicateType": VSA_PREDICATE_TYPE,
      "dev.imprimatur/stage": a.stage.name,
      "dev.imprimatur/approval-id": a.id,
    },
    lock: (fn) =>
      db.$transaction(
        async (tx) => {
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REFERRERS_LOCK_NAMESPACE}::int, hashtext(${lockKey}))`;
          // A revocation may have removed the summary since the `.att` append: then no referrer is pushed for it.
          const current = await tx.verificationSummary.findUnique({ where: { id: summary.id }, select: { status: true } });
          if (current?.status !== "pending") throw new SummaryRemoved();
          return fn();
        },
        { timeout: 120_000, maxWait: 60_000 },
      ),
  }).catch((e: unknown) => {
    if (e instanceof SummaryRemoved) return null;
    throw e;
  });
  return pushed?.descriptor.digest ?? null;
}

/**
 * Removes an approval's verification summary from the registry (its `.att` layer, and its bundle referrer from the
 * referrers fallback index, deleting the referrer manifest where the registry allows) and marks it removed, so no
 * retry pushes it again. Called when the approval is revoked. Idempotent; a registry failure throws and leaves the
 * record as it was, so the caller can retry.
 */
export async function removeVerificationSummary({
  approvalId,
  actor = SYSTEM,
}: {
  approvalId: string;
  actor?: Actor;
}): Promise<{ status: "removed" | "none" }> {
  const row = await db.verificationSummary.findUnique({ where: { approvalId } });
  if (!row || row.status === "removed") return { status: "none" };
  const image = await db.image.findUniqueOrThrow({ where: { id: row.imageId }, include: { repository: { include: { registry: true } } } });
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest as Digest;
  const client = registryClient(registry, "push");
  const tag = cosignTag(digest, "att");
  const lockKey = `${registry.id}/${repository}@${digest}`;

  try {
    await db.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ATT_LOCK_NAMESPACE}::int, hashtext(${lockKey}))`;
        const current = await readAttManifest(client, repository, tag);
        if (current.manifest?.layers.some((l) => l.digest === row.layerDigest)) {
          const keep = current.manifest.layers.filter((l) => l.digest !== row.layerDigest);
          const config = current.config
            ? {
                ...current.config,
                history: Array.isArray(current.config.history) ? (current.config.history as unknown[]).slice(0, keep.length) : current.config.history,
              }
            : null;
          const next = appendSignatureLayers({ existing: { ...current.manifest, layers: keep }, existingConfig: config, add: [] });
          await client.putBlob(repository, next.config);
          await client.putManifest(repository, tag, next.manifest, MT.ociManifest);
        }
        if (row.bundleArtifactDigest) await removeReferrer(client, repository, digest, row.bundleArtifactDigest as Digest, lockKey);
        await tx.verificationSummary.update({ where: { id: row.id }, data: { status: "removed", removedAt: new Date() } });
        // The stored `.att` accessory is the manifest before this rewrite: forgotten, so that the old manifest pushed back
        // is read as new by the next sync (reappeared-summaries.ts), not skipped as known.
        await tx.artifact.deleteMany({ where: { imageId: image.id, source: "cosign-tag", kind: "attestation" } });
        await appendAuditEvent(tx, {
          actor,
          action: "verification-summary.remove",
          targetDigest: digest,
          target: `${registry.name}/${repository}`,
          detail: { approvalId, layerDigest: row.layerDigest, tag, ...(row.bundleArtifactDigest ? { bundleArtifactDigest: row.bundleArtifactDigest } : {}) },
        });
      },
      { timeout: 120_000, maxWait: 60_000 },
    );
  } catch (e) {
    throw toAppError(e, `removing the verification summary from ${registry.name}`);
  }
  return { status: "removed" };
}

/** Drops a referrer from the fallback index tag, then deletes its manifest where the registry allows deletes. */
async function removeReferrer(client: Client, repository: string, subject: Digest, referrer: Digest, lockKey: string): Promise<void> {
  const tag = referrersFallbackTag(subject);
  await db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${REFERRERS_LOCK_NAMESPACE}::int, hashtext(${lockKey}))`;
      let bytes: Buffer | null = null;
      try {
        bytes = (await client.getManifest(repository, tag)).bytes;
      } catch (e) {
        if (!(e instanceof OciError && e.code === "NOT_FOUND")) throw e;
      }
      if (!bytes) return;
      // Read as Go tools read the index (removeFromReferrersIndex: keys in any case, nulls): listed under "Manifests" or
      // "Digest", the summary stayed visible to them while it was marked removed here (found by review).
      let next: Buffer | null;
      try {
        next = removeFromReferrersIndex(bytes, referrer);
      } catch (e) {
        // Not an index anyone can read, so it lists nothing: there is nothing to take out of it (registry data is hostile).
        if (e instanceof OciError) return;
        throw e;
      }
      if (next) await client.putManifest(repository, tag, next, MT.ociIndex);
    },
    { timeout: 120_000, maxWait: 60_000 },
  );
  // A registry with the referrers API lists it until the manifest is gone; Distribution answers 405 when deletes are off.
  const res = await client.request(`/v2/${repository}/manifests/${referrer}`, { method: "DELETE", scope: `repository:${repository}:delete` });
  await res.body?.cancel().catch(() => {});
  if (res.status >= 500) throw new OciError("UNAVAILABLE", `DELETE ${repository}@${referrer}: registry error ${res.status}`, res.status);
}

/** The cosign `.att` manifest and its config, read as the `.sig` writers read theirs. */
function readAttManifest(client: Client, repository: string, tag: string) {
  return readSigManifest(client, repository, tag, "attestation");
}

/** Pushes the verification summaries still missing for signed approvals, and retries those left pending. */
export async function completePendingSummaries({ limit = 20 }: { limit?: number } = {}) {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id FROM approvals a
    JOIN signing_keys k ON k.id = a.signing_key_id
    LEFT JOIN verification_summaries v ON v.approval_id = a.id
    WHERE a.status = 'signed' AND a.revoked_at IS NULL AND (v.id IS NULL OR v.status = 'pending')
      -- A revoked key signs nothing more (an unpushed envelope signed before the revocation is still pushed).
      AND (k.revoked_at IS NULL OR v.id IS NOT NULL)
    -- Fewest failed attempts first, so a few summaries the registry keeps refusing cannot starve the others.
    ORDER BY COALESCE(v.attempts, 0), a.created_at LIMIT ${limit}`;
  let pushed = 0;
  for (const r of rows) {
    try {
      if ((await pushVerificationSummary({ approvalId: r.id })).status === "pushed") pushed++;
    } catch (e) {
      if (!(e instanceof OciError || e instanceof AppError)) throw e;
    }
  }
  return { pending: rows.length, pushed };
}

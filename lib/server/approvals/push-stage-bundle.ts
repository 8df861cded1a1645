import "server-only";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { OciError, sha256Digest, type Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { pushReferrer } from "../../oci/push-referrer";
import { pullReference } from "../../oci/reference";
import { buildKeyBundle, COSIGN_SIGN_PREDICATE_TYPE } from "../../signing/formats/sigstore-write";
import { appendAuditEvent } from "../audit/append-audit-event";
import { refreshSignatures } from "../images/refresh-signatures";
import { signWithKey } from "../keys/load-stage-signer";
import { registryClient, toAppError } from "../registries/resolve-registry";
import { lockReferrers } from "./signature-manifest-io";
import { timestampSignature, tsaConfigured } from "./timestamp-signature";

export type PushStageBundleOutcome =
  | { status: "skipped"; reason: string }
  | { status: "pushed"; artifactDigest: string; bundleDigest: string; pushedVia: "referrers-api" | "referrers-tag"; existing: boolean };

/**
 * When the approval's stage emits bundles, writes the newer format too: a key-based Sigstore bundle v0.3 carrying the
 * statement cosign v3 signs (DSSE, in-toto v1, predicate https://sigstore.dev/cosign/sign/v1), signed with the
 * approval's own key, attached to the image as an OCI referrer (with the referrers tag-schema fallback on registries
 * without the referrers API), then recorded. Pushed first, recorded after: a failure leaves no record claiming a
 * bundle the registry does not have. Idempotent per approval once recorded (ECDSA signatures differ per signing, so
 * two racing writers can leave two valid referrers; the first recorded one stands).
 */
function loadApproval(approvalId: string) {
  return db.approval.findUnique({
    where: { id: approvalId },
    include: {
      image: { include: { repository: { include: { registry: true } } } },
      stage: true,
      signingKey: { select: { id: true, name: true, fingerprint: true, revokedAt: true } },
    },
  });
}

type ApprovalRow = NonNullable<Awaited<ReturnType<typeof loadApproval>>>;
type BundleActor = { kind: "system"; label: string };

/** The Sigstore bundle (v0.3, DSSE) over the image digest, signed with the approval's stage key. */
function buildBundle(a: ApprovalRow, actor: BundleActor) {
  const registry = a.image.repository.registry;
  const digest = a.image.digest as Digest;
  const repository = a.image.repository.name;
  return buildKeyBundle({
    subjectName: pullReference(registry.url, registry.pullName, repository),
    subjectDigest: digest,
    // The approval's key signs; the key never leaves the server (or its token) and the use is audited.
    sign: (data) =>
      signWithKey(a.signingKey.id, data, { actor, purpose: `Sigstore bundle for approval ${a.id} (stage ${a.stage.name})`, targetDigest: digest }),
    // What cosign and sigstore-go write as the hint: the hex SHA-256 of the DER public key.
    publicKeyHint: a.signingKey.fingerprint.replace(/^sha256:/, ""),
    // The bundle's own signature (over the DSSE envelope) gets its own token; a TSA that is down leaves the bundle
    // pending (TSA_UNAVAILABLE), retried by the scheduler tick like a registry that is down.
    ...(tsaConfigured() ? { timestamp: async (sig: Uint8Array) => (await timestampSignature({ signature: sig })).token } : {}),
  });
}

/** Pushes the bundle as a referrer of the image (referrers API, else the tag schema) under the referrers lock. */
async function pushBundle(a: ApprovalRow, bytes: Uint8Array) {
  const { image } = a;
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest as Digest;
  const client = registryClient(registry, "push");
  const lock = <T>(fn: () => Promise<T>) =>
    db.$transaction(
      async (tx) => {
        await lockReferrers(tx, registry.id, repository, digest);
        return fn();
      },
      { timeout: 120_000, maxWait: 60_000 },
    );
  try {
    return await pushReferrer({
      client,
      repository,
      subject: { mediaType: image.mediaType, digest, size: image.size },
      artifactType: MT.sigstoreBundleV03,
      blobBytes: bytes,
      blobMediaType: MT.sigstoreBundleV03,
      annotations: {
        "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE_TYPE,
        "dev.imprimatur/stage": a.stage.name,
        "dev.imprimatur/approval-id": a.id,
      },
      lock,
    });
  } catch (e) {
    throw toAppError(e, `pushing the Sigstore bundle to ${registry.name}`);
  }
}

/** Records the pushed bundle, its accessory row and the audit event; a revocation that raced the push gets it to remove. */
async function recordBundle(
  a: ApprovalRow,
  {
    actor,
    pushed,
    manifestDigest,
    bundleDigest,
  }: { actor: BundleActor; pushed: Awaited<ReturnType<typeof pushBundle>>; manifestDigest: string; bundleDigest: string },
) {
  const { image } = a;
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest;
  await db.$transaction(async (tx) => {
    await tx.stageBundle.create({
      data: {
        approvalId: a.id,
        imageId: image.id,
        signingKeyId: a.signingKey.id,
        artifactDigest: manifestDigest,
        bundleDigest,
        mediaType: MT.sigstoreBundleV03,
        pushedVia: pushed.indexedBy,
      },
    });
    // A revocation that committed while the bundle was being pushed found no bundle to remove: hand it this one.
    const [row] = await tx.$queryRaw<{ revoked_at: Date | null }[]>`SELECT revoked_at FROM approvals WHERE id = ${a.id}::uuid FOR UPDATE`;
    if (row?.revoked_at) await tx.approval.update({ where: { id: a.id }, data: { revocationState: "pending" } });
    // Known right away as an accessory, so the chain shows it before the next sync.
    await tx.artifact.createMany({
      skipDuplicates: true,
      data: [
        {
          imageId: image.id,
          digest: manifestDigest,
          mediaType: MT.ociManifest,
          artifactType: MT.sigstoreBundleV03,
          kind: "sigstore-bundle",
          predicateType: COSIGN_SIGN_PREDICATE_TYPE,
          source: pushed.indexedBy,
          size: pushed.descriptor.size,
          annotations: pushed.descriptor.annotations ?? {},
        },
      ],
    });
    await appendAuditEvent(tx, {
      actor,
      action: "bundle.push",
      targetDigest: digest,
      target: `${registry.name}/${repository}`,
      detail: {
        approvalId: a.id,
        stage: a.stage.name,
        key: a.signingKey.name,
        artifactDigest: manifestDigest,
        bundleDigest,
        via: pushed.indexedBy,
        ...(pushed.fallbackTag ? { tag: pushed.fallbackTag } : {}),
      },
    });
  });
}

export async function pushStageBundle({ approvalId }: { approvalId: string }): Promise<PushStageBundleOutcome> {
  const a = await loadApproval(approvalId);
  if (!a) throw new AppError("NOT_FOUND", "no such approval");
  if (!a.stage.emitBundle) return { status: "skipped", reason: `stage ${a.stage.name} does not emit Sigstore bundles` };
  if (a.revokedAt) return { status: "skipped", reason: "the approval is revoked" };
  const prior = await db.stageBundle.findUnique({ where: { approvalId } });
  if (prior)
    return {
      status: "pushed",
      artifactDigest: prior.artifactDigest,
      bundleDigest: prior.bundleDigest,
      pushedVia: prior.pushedVia as "referrers-api" | "referrers-tag",
      existing: true,
    };
  // A bundle is a new signature: a revoked key makes none (the approval, signed before its compromise, may stay
  // valid), as completePendingBundles already leaves it. Skipped, not thrown: the caller may be retrying signatures.
  if (a.signingKey.revokedAt && a.signingKey.revokedAt <= new Date()) return { status: "skipped", reason: `the stage key ${a.signingKey.name} is revoked` };

  const { image } = a;
  const registry = image.repository.registry;
  const repository = image.repository.name;
  const digest = image.digest as Digest;
  const actor = { kind: "system" as const, label: "bundle-writer" };
  const bundle = await buildBundle(a, actor);

  const pushed = await pushBundle(a, bundle.bytes);
  const manifestDigest = pushed.descriptor.digest;
  const bundleDigest = sha256Digest(bundle.bytes);

  try {
    await recordBundle(a, { actor, pushed, manifestDigest, bundleDigest });
  } catch (e) {
    // Another replica (the approver's request and the scheduler's retry can meet here) recorded this approval's bundle
    // first: ours is a second valid referrer for the same approval; the recorded one stands.
    if (!(e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002")) throw e;
    const won = await db.stageBundle.findUniqueOrThrow({ where: { approvalId } });
    return {
      status: "pushed",
      artifactDigest: won.artifactDigest,
      bundleDigest: won.bundleDigest,
      pushedVia: won.pushedVia as "referrers-api" | "referrers-tag",
      existing: true,
    };
  }

  // Show it with its verdict now; a registry hiccup here only delays that to the next sync.
  try {
    await refreshSignatures({ client: registryClient(registry), imageId: image.id, repository, digest });
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
  }
  return { status: "pushed", artifactDigest: manifestDigest, bundleDigest, pushedVia: pushed.indexedBy, existing: false };
}

import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent, recordAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "../trust/load-trust";
import { recordRevocation } from "../approvals/record-revocation";
import { removeRevokedSignatures } from "../approvals/remove-revoked-signatures";
import { kickWebhooks } from "../webhooks/deliver-webhooks";
import { generateKeyMaterial, type KeyBackend } from "./key-material";
import { installStageKey } from "./rotate-signing-key";

export interface RevokeStageKeyOptions {
  actor: Actor;
  stage: string;
  /** From when the key is compromised. Signatures whose trusted time is earlier stay valid; can only move earlier. */
  effectiveAt: Date;
  reason: string;
  /** List what would change and change nothing. */
  dryRun?: boolean;
  /** Which of the stage's keys (default: its current key). */
  key?: string;
}

export interface AffectedApproval {
  approvalId: string;
  stage: string;
  repository: string;
  digest: string;
  /** The time the decision used: the TSA's when the signature has a token, else Imprimatur's record. */
  trustedAt: string;
  trustedBy: "tsa" | "record";
  /** Already revoked for another reason: listed, not changed. */
  alreadyRevoked: boolean;
}

const MIN_REASON = 3;
// A compromise is known after it happened; a few seconds of clock skew between replicas are tolerated.
const FUTURE_SKEW_MS = 60_000;

/** The reason, trimmed, once it and the effective time are valid (INVALID_INPUT naming the field otherwise). */
function checkedReason(reason: unknown, effectiveAt: unknown) {
  const text = typeof reason === "string" ? reason.trim() : "";
  if (text.length < MIN_REASON) throw new AppError("INVALID_INPUT", `a key revocation needs a reason (at least ${MIN_REASON} characters)`, "reason");
  if (text.length > 1000) throw new AppError("INVALID_INPUT", "reason is over 1000 characters", "reason");

  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text)) throw new AppError("INVALID_INPUT", "reason contains control characters", "reason");
  if (!(effectiveAt instanceof Date) || Number.isNaN(effectiveAt.getTime()))
    throw new AppError("INVALID_INPUT", "effectiveAt must be an RFC 3339 time", "effectiveAt");
  if (effectiveAt.getTime() > Date.now() + FUTURE_SKEW_MS)
    throw new AppError("INVALID_INPUT", "effectiveAt is in the future; a compromise is revoked from when it happened", "effectiveAt");
  return text;
}

/** The stage and the key to revoke (its current key unless one is named), refusing a later effective time. */
async function findKeyToRevoke({ stageName, keyName, effectiveAt }: { stageName: string; keyName?: string; effectiveAt: Date }) {
  const stage = await db.stage.findUnique({ where: { name: stageName } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  const key = keyName
    ? await db.signingKey.findFirst({ where: { name: keyName, stageId: stage.id }, omit: { encryptedPrivateKey: true } })
    : await db.signingKey.findFirst({
        where: { stageId: stage.id, retiredAt: null, revokedAt: null },
        orderBy: { createdAt: "desc" },
        omit: { encryptedPrivateKey: true },
      });
  if (!key)
    throw new AppError(
      "NOT_FOUND",
      keyName ? `stage ${stage.name} has no key named ${keyName}` : `stage ${stage.name} has no current key; name the key to revoke`,
      "key",
    );
  if (key.revokedAt && effectiveAt > key.revokedAt) {
    throw new AppError(
      "CONFLICT",
      `key ${key.name} is already revoked from ${key.revokedAt.toISOString()}; the effective time can only move earlier`,
      "effectiveAt",
    );
  }
  return { stage, key };
}

type Affected = AffectedApproval & { imageId: string };

/** The key's approvals whose trusted time is at or after `effectiveAt`, and how many earlier ones stay valid. */
async function affectedApprovals(client: Pick<typeof db, "approval">, keyId: string, effectiveAt: Date) {
  const rows = await client.approval.findMany({
    where: { signingKeyId: keyId },
    orderBy: { createdAt: "asc" },
    select: {
      id: true,
      trustedAt: true,
      trustedBy: true,
      revokedAt: true,
      stage: { select: { name: true } },
      image: { select: { id: true, digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } } },
    },
  });
  const after: Affected[] = [];
  let unaffected = 0;
  for (const r of rows) {
    // The trusted time is the database's one definition (generated column approvals.trusted_at), never null.
    const t = { at: r.trustedAt!, by: r.trustedBy === "tsa" ? ("tsa" as const) : ("record" as const) };
    if (t.at < effectiveAt) {
      unaffected++;
      continue;
    }
    after.push({
      approvalId: r.id,
      imageId: r.image.id,
      stage: r.stage.name,
      repository: `${r.image.repository.registry.name}/${r.image.repository.name}`,
      digest: r.image.digest,
      trustedAt: t.at.toISOString(),
      trustedBy: t.by,
      alreadyRevoked: r.revokedAt !== null,
    });
  }
  return { after, unaffected };
}

/** The images whose approvals a revocation changes (already revoked ones left out), with how many each. */
function affectedImages(after: Affected[]) {
  const images = new Map<string, { repository: string; digest: string; approvals: number }>();
  for (const a of after) {
    if (a.alreadyRevoked) continue;
    const k = `${a.repository}@${a.digest}`;
    images.set(k, { repository: a.repository, digest: a.digest, approvals: (images.get(k)?.approvals ?? 0) + 1 });
  }
  return [...images.values()];
}

/** The replacement key's name and material, generated only when the revoked key is the stage's current one. */
async function prepareReplacement(stage: { name: string; keyBackend: string }, key: { retiredAt: Date | null; revokedAt: Date | null }) {
  const wasCurrent = !key.retiredAt && !key.revokedAt;
  const backend = stage.keyBackend as KeyBackend;
  const replacementName = `stage-${stage.name}-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  const material = wasCurrent ? await generateKeyMaterial(backend, replacementName) : null;
  return { replacementName, material };
}

/** The registry side, one `.sig` rewrite per image; returns the approvals whose removal stays pending. */
async function removeFromRegistry(after: Affected[], actor: Actor) {
  const imageIds = [...new Set(after.map((a) => a.imageId))];
  const pending: string[] = [];
  for (const id of imageIds) {
    const r = await removeRevokedSignatures({ imageId: id, actor });
    for (const a of r.approvals) if (a.state === "pending") pending.push(a.approvalId);
  }
  return pending;
}

/** What a revocation from `effectiveAt` would change; nothing is written but the audit row of the dry run. */
async function dryRunRevocation({
  actor,
  stage,
  key,
  keyView,
  effectiveAt,
}: {
  actor: Actor;
  stage: { name: string };
  key: { id: string; name: string };
  keyView: { name: string; fingerprint: string; revokedAt: string | null };
  effectiveAt: Date;
}) {
  const { after, unaffected } = await affectedApprovals(db, key.id, effectiveAt);
  await recordAuditEvent({
    actor,
    action: "key.revoke.dry-run",
    target: `stage ${stage.name}`,
    detail: { key: key.name, effectiveAt: effectiveAt.toISOString(), wouldRevoke: after.filter((a) => !a.alreadyRevoked).map((a) => a.approvalId) },
  });
  return {
    dryRun: true as const,
    key: keyView,
    effectiveAt: effectiveAt.toISOString(),
    approvals: after.map(({ imageId: _, ...a }) => a),
    images: affectedImages(after),
    unaffected,
    replacement: null,
  };
}

/**
 * A stage key is compromised from `effectiveAt` (as AWS Signer revokes a profile: the time can only move earlier).
 * Every approval signed with it whose trusted time is at or after `effectiveAt` is revoked as a single approval would
 * be; earlier ones stay valid (their signature's revocation check passes at its trusted time). In one transaction:
 * the key's revocation, a replacement key (generated first, installed as a rotation would), the approvals'
 * revocations with their audit events and webhooks. The registry removals follow (pending ones are retried). A dry
 * run lists exactly the approvals and images that would change and changes nothing. Re-running the same revocation
 * (same time) is a no-op apart from finishing what a crash left undone.
 */
export async function revokeStageKey({ actor, stage: stageName, effectiveAt, reason, dryRun = false, key: keyName }: RevokeStageKeyOptions) {
  requireRole(actor, ["admin"], "revoking stage keys");
  const text = checkedReason(reason, effectiveAt);
  const { stage, key } = await findKeyToRevoke({ stageName, keyName, effectiveAt });

  const keyView = { name: key.name, fingerprint: key.fingerprint, revokedAt: key.revokedAt?.toISOString() ?? null };

  if (dryRun) return dryRunRevocation({ actor, stage, key, keyView, effectiveAt });

  // The replacement is generated before the transaction (a PKCS#11 token is slow) and installed inside it.
  const { replacementName, material } = await prepareReplacement(stage, key);
  const label = `stage key ${key.name} compromised from ${effectiveAt.toISOString()}: ${text}`.slice(0, 1000);

  const out = await db.$transaction(
    async (tx) => {
      await tx.$executeRaw`SELECT 1 FROM signing_keys WHERE id = ${key.id}::uuid FOR UPDATE`;
      const fresh = await tx.signingKey.findUniqueOrThrow({ where: { id: key.id }, select: { revokedAt: true, retiredAt: true } });
      if (fresh.revokedAt && effectiveAt > fresh.revokedAt) {
        throw new AppError(
          "CONFLICT",
          `key ${key.name} is already revoked from ${fresh.revokedAt.toISOString()}; the effective time can only move earlier`,
          "effectiveAt",
        );
      }
      const moved = !fresh.revokedAt || effectiveAt < fresh.revokedAt;
      const now = new Date();
      if (moved) {
        await tx.signingKey.update({ where: { id: key.id }, data: { revokedAt: effectiveAt, revocationReason: text, retiredAt: fresh.retiredAt ?? now } });
      }
      let replacement: { name: string; fingerprint: string } | null = null;
      if (material && !fresh.revokedAt && !fresh.retiredAt) {
        const installed = await installStageKey(tx, { actor, stage, name: replacementName, material, action: "key.rotate", backendChanged: null });
        replacement = { name: installed.key.name, fingerprint: installed.key.fingerprint };
      }
      const { after, unaffected } = await affectedApprovals(tx, key.id, effectiveAt);
      const revoked: string[] = [];
      for (const a of after) {
        if (a.alreadyRevoked) continue;
        await recordRevocation(tx, { approvalId: a.approvalId, actor, reason: label, source: "key-compromise" });
        revoked.push(a.approvalId);
      }
      await appendAuditEvent(tx, {
        actor,
        action: "key.revoke",
        target: `stage ${stage.name}`,
        detail: {
          key: key.name,
          fingerprint: key.fingerprint,
          effectiveAt: effectiveAt.toISOString(),
          previousEffectiveAt: fresh.revokedAt?.toISOString() ?? null,
          reason: text,
          revokedApprovals: revoked,
          unaffected,
          replacement,
        },
      });
      await bumpTrustState(tx);
      return { after, unaffected, replacement };
    },
    { timeout: 120_000, maxWait: 60_000 },
  );
  kickWebhooks();

  // The registry side, one `.sig` rewrite per image; what fails stays pending for the scheduler tick.
  const pending = await removeFromRegistry(out.after, actor);
  return {
    dryRun: false as const,
    key: { ...keyView, revokedAt: effectiveAt.toISOString() },
    effectiveAt: effectiveAt.toISOString(),
    approvals: out.after.map(({ imageId: _, ...a }) => a),
    images: affectedImages(out.after),
    unaffected: out.unaffected,
    replacement: out.replacement,
    pendingInRegistry: pending,
  };
}

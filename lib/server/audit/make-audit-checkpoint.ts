import "server-only";
import { createHash } from "node:crypto";
import { CHECKPOINT_TYPE, checkpointBytes, checkpointManifest, checkpointTag, type CheckpointPayload } from "../../audit-checkpoint";
import { bytes, db, type Tx } from "../../db";
import { env } from "../../env";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { timestampSignature, tsaConfigured } from "../approvals/timestamp-signature";
import { registryClient } from "../registries/resolve-registry";
import { appendAuditEvent, AUDIT_LOCK } from "./append-audit-event";
import { loadAuditSigner } from "./audit-key";
import { resolveAuditRegistry } from "./audit-registry";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";

export interface MakeAuditCheckpointOptions {
  actor: Actor;
  /** Make one even when the head has not moved since the last checkpoint. */
  force?: boolean;
  /** Registry name and repository to push to (default: IMPRIMATUR_AUDIT_REGISTRY / IMPRIMATUR_AUDIT_REPOSITORY). */
  registry?: string;
  repository?: string;
}

export type CheckpointResult =
  | { status: "unchanged"; number: number | null; seq: string | null }
  | { status: "pushed" | "pending"; number: number; seq: string; hash: string; reference: string | null; error: string | null };

/**
 * Signs the chain head and records the checkpoint, then pushes it to the registry. The record and its audit event are
 * one transaction under the chain lock (so the head is the head); the push happens after it, outside any transaction:
 * a registry that is down leaves the checkpoint pending (retried by pushPendingCheckpoints) and never holds the chain
 * lock, so approvals are not blocked.
 *
 * The number is the database's last checkpoint + 1, and only while the registry agrees: when it already holds that
 * tag, the database's records were lost or deleted (or another installation pushes to the same repository), and
 * signing the current head under that number would replace a genuine checkpoint with one over whatever the table holds
 * now. Then nothing is made: the refusal is audited (once per state) and thrown as CONFLICT, and `audit verify` names
 * the checkpoints the registry holds that the database has no record of.
 */
export async function makeAuditCheckpoint({ actor, force = false, registry, repository }: MakeAuditCheckpointOptions): Promise<CheckpointResult> {
  requireRole(actor, ["admin"], "making an audit checkpoint");
  await foldStagedAuditEvents();
  const signer = await loadAuditSigner();
  const target = checkpointTarget({ registry, repository });
  // Read before the chain lock is taken (a slow registry never holds it); a checkpoint made meanwhile only raises the
  // database's number, and the push checks its tag again.
  const next = ((await db.auditCheckpoint.findFirst({ orderBy: { number: "desc" }, select: { number: true } }))?.number ?? 0) + 1;
  const held = await registryHolds(target, next);
  const made = await db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_LOCK}::int, 0)`;
    const head = await tx.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
    const last = await tx.auditCheckpoint.findFirst({ orderBy: { number: "desc" } });
    const recorded = last?.number ?? 0;
    if (held?.holds && next > recorded) {
      const detail = { checkpoint: next, recorded, registry: held.registry, repository: target.repository };
      // Audited once per state, not on every scheduler tick while it lasts.
      const prev = (await tx.auditEvent.findFirst({ where: { action: "audit.checkpoint.refused" }, orderBy: { seq: "desc" }, select: { detail: true } }))
        ?.detail as Partial<typeof detail> | undefined;
      if (!prev || (Object.keys(detail) as (keyof typeof detail)[]).some((k) => prev[k] !== detail[k]))
        await appendAuditEvent(tx, { actor, action: "audit.checkpoint.refused", outcome: "failure", detail });
      return { refused: detail };
    }
    // Unchanged when nothing but checkpointing itself happened since the last one (its own event, the CLI's). The last
    // head is the one the trail's own audit.checkpoint event names (append-only), not the editable table row: a row's
    // head_seq set far ahead made every later head look "unchanged" and stopped checkpoints for good (found by review).
    const lastHead = (await lastCheckpointInTrail(tx))?.headSeq ?? last?.headSeq ?? null;
    const moved =
      lastHead !== null
        ? await tx.auditEvent.count({
            where: { seq: { gt: lastHead }, action: { notIn: ["audit.checkpoint", "cli.audit.checkpoint", "audit.checkpoint.refused"] } },
          })
        : 1;
    if (!head || (!force && moved === 0)) return { unchanged: true as const, number: last?.number ?? null, seq: last?.headSeq.toString() ?? null };
    const number = recorded + 1;
    const time = new Date();
    const payload: CheckpointPayload = {
      type: CHECKPOINT_TYPE,
      checkpoint: number,
      seq: head.seq.toString(),
      hash: head.hash,
      time: time.toISOString(),
      key: signer.fingerprint,
    };
    const bytes = checkpointBytes(payload);
    const signature = signer.sign(bytes).toString("base64");
    await tx.auditCheckpoint.create({
      data: { number, headSeq: head.seq, headHash: head.hash, at: time, keyFingerprint: signer.fingerprint, payload: bytes.toString("utf8"), signature },
    });
    await appendAuditEvent(tx, {
      actor,
      action: "audit.checkpoint",
      detail: { checkpoint: number, headSeq: head.seq.toString(), headHash: head.hash, key: signer.fingerprint },
    });
    return { unchanged: false as const, number, seq: head.seq.toString(), hash: head.hash };
  });
  if (made.refused) {
    const r = made.refused;
    throw new AppError(
      "CONFLICT",
      `no checkpoint made: ${r.registry}/${r.repository} already holds ${checkpointTag(r.checkpoint)}, but the database's checkpoint records end at ${r.recorded || "none"}; ` +
        "they disagree with the registry (rows deleted, or another installation pushing there), and the registry's checkpoints are never overwritten. Run `imprimatur audit verify`",
      "checkpoint",
    );
  }
  if (made.unchanged) return { status: "unchanged", number: made.number, seq: made.seq };
  await timestampCheckpoint(made.number);
  const pushed = await pushCheckpoint(made.number, { registry, repository });
  return { status: pushed.ok ? "pushed" : "pending", number: made.number, seq: made.seq, hash: made.hash, reference: pushed.reference, error: pushed.error };
}

/**
 * With a TSA configured, an RFC 3161 token over the checkpoint's signature, asked for after the chain lock is released.
 * A TSA that is down or refuses delays nothing: the checkpoint is pushed without a token, the reason is kept, and
 * verification reports its time as only claimed.
 */
async function timestampCheckpoint(number: number): Promise<void> {
  if (!tsaConfigured()) return;
  const cp = await db.auditCheckpoint.findUniqueOrThrow({ where: { number }, select: { signature: true, timestampToken: true } });
  if (cp.timestampToken) return;
  try {
    const ts = await timestampSignature({ signature: Buffer.from(cp.signature, "base64") });
    await db.auditCheckpoint.update({
      where: { number },
      data: { timestampToken: bytes(ts.token), timestampAt: ts.genTime, timestampBy: ts.by, timestampError: null },
    });
  } catch (e) {
    await db.auditCheckpoint.update({ where: { number }, data: { timestampError: ((e as Error).message ?? String(e)).slice(0, 500) } });
  }
}

export function checkpointTarget(opts: { registry?: string; repository?: string } = {}) {
  return { registry: opts.registry ?? env().IMPRIMATUR_AUDIT_REGISTRY, repository: opts.repository ?? env().IMPRIMATUR_AUDIT_REPOSITORY };
}

/**
 * Whether the registry already holds checkpoint `number` (a tag only this server pushes), asked with the credentials
 * the push will use. Null when the registry cannot be asked: the checkpoint is then made and left pending, and its
 * push asks again before writing the tag.
 */
async function registryHolds(target: ReturnType<typeof checkpointTarget>, number: number): Promise<{ registry: string; holds: boolean } | null> {
  try {
    const reg = await resolveAuditRegistry(target.registry);
    const there = await registryClient(reg, "push").headManifest(target.repository, checkpointTag(number));
    return { registry: reg.name, holds: there !== null };
  } catch {
    return null;
  }
}

async function pushCheckpoint(
  number: number,
  opts: { registry?: string; repository?: string },
): Promise<{ ok: boolean; reference: string | null; error: string | null }> {
  const cp = await db.auditCheckpoint.findUniqueOrThrow({ where: { number } });
  const target = checkpointTarget(opts);
  try {
    const reg = await resolveAuditRegistry(target.registry);
    const client = registryClient(reg, "push");
    const payload = Buffer.from(cp.payload, "utf8");
    const manifest = checkpointManifest(
      payload,
      cp.signature,
      cp.at.toISOString(),
      cp.timestampToken ? Buffer.from(cp.timestampToken).toString("base64") : null,
    );
    const tag = checkpointTag(number);
    // A checkpoint tag is written once. The same bytes there already are this checkpoint (pushed before its row was
    // updated); anything else is a genuine checkpoint the database lost track of, and stays: the row stays pending
    // with the reason, and verification compares the registry's copy with the trail.
    const there = await client.getManifest(target.repository, tag).catch((e: unknown) => {
      if (e instanceof OciError && e.code === "NOT_FOUND") return null;
      throw e;
    });
    let digest: string;
    if (there) {
      digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
      if (there.digest !== digest)
        throw new Error(
          `${tag} already exists in ${target.repository} with other content (${there.digest}); not overwritten: the database's checkpoint records disagree with the registry`,
        );
    } else {
      await client.putBlob(target.repository, Buffer.from("{}"));
      await client.putBlob(target.repository, payload);
      digest = await client.putManifest(target.repository, tag, manifest, "application/vnd.oci.image.manifest.v1+json");
    }
    const reference = `${reg.name}/${target.repository}@${digest}`;
    await db.auditCheckpoint.update({ where: { number }, data: { reference, pushedAt: new Date(), attempts: { increment: 1 }, lastError: null } });
    return { ok: true, reference, error: null };
  } catch (e) {
    const error = (e as Error).message?.slice(0, 500) ?? String(e);
    await db.auditCheckpoint.update({ where: { number }, data: { attempts: { increment: 1 }, lastError: error } });
    return { ok: false, reference: null, error };
  }
}

/** Pushes checkpoints that a registry outage left pending, oldest first. */
export async function pushPendingCheckpoints(
  opts: { registry?: string; repository?: string; limit?: number } = {},
): Promise<{ pushed: number; pending: number }> {
  const pending = await db.auditCheckpoint.findMany({
    where: { pushedAt: null },
    orderBy: { number: "asc" },
    take: opts.limit ?? 20,
    select: { number: true },
  });
  let pushed = 0;
  for (const p of pending) {
    const r = await pushCheckpoint(p.number, opts);
    if (!r.ok) break;
    pushed++;
  }
  return { pushed, pending: pending.length - pushed };
}

/** The newest audit.checkpoint event of the trail: when it was made and the head it signed. */
async function lastCheckpointInTrail(tx: Pick<Tx, "auditEvent">): Promise<{ at: Date; headSeq: bigint } | null> {
  const ev = await tx.auditEvent.findFirst({ where: { action: "audit.checkpoint" }, orderBy: { seq: "desc" }, select: { at: true, detail: true } });
  const headSeq = (ev?.detail as { headSeq?: unknown } | undefined)?.headSeq;
  return ev && typeof headSeq === "string" && /^\d{1,19}$/.test(headSeq) ? { at: ev.at, headSeq: BigInt(headSeq) } : null;
}

/** The scheduler's part: a checkpoint when the last one is older than IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES, and retries. */
export async function scheduledAuditCheckpoint(now = new Date()): Promise<CheckpointResult | null> {
  // Without a master key there is no audit key (the server's startup checks say so); nothing to schedule.
  if (!env().IMPRIMATUR_MASTER_KEY) return null;
  await pushPendingCheckpoints();
  // When the last checkpoint was made, by the trail's own event (append-only), not the editable table row: a row's
  // `at` set to 9999 made the scheduler wait forever (found by review).
  const last = (await lastCheckpointInTrail(db)) ?? (await db.auditCheckpoint.findFirst({ orderBy: { number: "desc" }, select: { at: true } }));
  if (last && last.at <= now && now.getTime() - last.at.getTime() < env().IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES * 60_000) return null;
  return makeAuditCheckpoint({ actor: { kind: "system", label: "scheduler" } });
}

import "server-only";
import {
  CHECKPOINT_ARTIFACT_TYPE,
  checkpointTime,
  compareCheckpoint,
  parseCheckpointTag,
  verifyCheckpoint,
  type CheckpointPayload,
  type CheckpointTime,
} from "../../audit-checkpoint";
import type { ChainCheck } from "../../audit-chain";
import { auditDetailProblem } from "../../audit-events";
import { db } from "../../db";
import { env } from "../../env";
import type { Digest } from "../../oci/digest";
import { OciError } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { registryClient } from "../registries/resolve-registry";
import { trustedAuditKeys } from "./audit-key";
import { listCheckpointTags, MAX_CHECKPOINT_TAGS, resolveAuditRegistry } from "./audit-registry";
import { loadTrust } from "../trust/load-trust";
import { checkpointTarget } from "./make-audit-checkpoint";
import { verifyAuditChain } from "./verify-audit-chain";

export interface CheckpointReport {
  number: number;
  /** disagrees: the registry's genuine checkpoint is not the one the trail's own audit.checkpoint event recorded (a tag overwritten, or a number made twice). */
  status: "ok" | "forged" | "cut" | "rewritten" | "missing" | "pending" | "disagrees";
  seq: string | null;
  message: string;
  /** For genuine checkpoints: trusted (a TSA token verified), claimed (no token), or failed (a token that fails). */
  time?: CheckpointTime;
}

export interface AuditVerification {
  /** The chain is intact and agrees with every genuine checkpoint in the registry. */
  ok: boolean;
  chain: ChainCheck;
  tableEndsAt: string;
  checkpoints: CheckpointReport[];
  /** Integrity failures, in words. */
  problems: string[];
  /**
   * Not failures: what is not anchored yet (pending pushes, the unanchored tail; an unreachable registry only while
   * the trail records no checkpoint made).
   */
  gaps: string[];
  lastAnchoredSeq: string | null;
  /**
   * Set (and ok false) when the trail records checkpoints made but the registry could not be read, or has no such
   * repository: nothing was checked against them, so nothing is vouched for.
   */
  unverifiable: string | null;
}

type ReadClient = ReturnType<typeof registryClient>;

/**
 * Reads and verifies checkpoint `n` from the registry; for a genuine one, records its time in `times`. An
 * unreadable checkpoint is a failed verdict; only a registry outage throws.
 */
async function readCheckpoint({
  client,
  repository,
  tag,
  n,
  keys,
  tsaRoots,
  times,
}: {
  client: ReadClient;
  repository: string;
  tag: string;
  n: number;
  keys: Awaited<ReturnType<typeof trustedAuditKeys>>;
  tsaRoots: Awaited<ReturnType<typeof loadTrust>>["material"]["tsaRoots"];
  times: Map<number, CheckpointTime>;
}): Promise<ReturnType<typeof verifyCheckpoint>> {
  let verdict: ReturnType<typeof verifyCheckpoint>;
  try {
    const m = await client.getManifest(repository, tag);
    const manifest = JSON.parse(m.bytes.toString("utf8")) as { layers?: { mediaType?: string; digest?: string; size?: number }[] };
    const layer = manifest.layers?.find((l) => l.mediaType === CHECKPOINT_ARTIFACT_TYPE);
    if (!layer?.digest || !/^sha256:[0-9a-f]{64}$/.test(layer.digest)) verdict = { ok: false, reason: "no checkpoint layer" };
    else
      verdict = verifyCheckpoint({ tagNumber: n, manifest, payloadBytes: await client.getBlob(repository, layer.digest as Digest, 4096), trustedKeys: keys });
    if (verdict.ok) times.set(n, checkpointTime({ manifest, payload: verdict.payload, tsaRoots }));
  } catch (e) {
    if (e instanceof OciError && e.code === "UNAVAILABLE") throw e;
    verdict = { ok: false, reason: `unreadable: ${(e as Error).message}` };
  }
  return verdict;
}

/** What verification found so far: problems (the trail cannot be trusted), gaps (not yet anchored), per-checkpoint reports. */
interface Findings {
  problems: string[];
  gaps: string[];
  reports: CheckpointReport[];
}

/**
 * Reads every checkpoint tag in the registry; a forged one is reported. `unread` says why the registry's checkpoints
 * could not be read (the caller decides whether that is a gap or a failure).
 */
async function readRegistryCheckpoints(target: ReturnType<typeof checkpointTarget>, f: Findings) {
  const genuine: CheckpointPayload[] = [];
  const times = new Map<number, CheckpointTime>();
  const seen = new Set<number>();
  let unread: string | null = null;
  try {
    const keys = await trustedAuditKeys();
    const { material } = await loadTrust();
    const reg = await resolveAuditRegistry(target.registry);
    const client = registryClient(reg, "read", { maxTags: MAX_CHECKPOINT_TAGS });
    const { repositoryExists, tags } = await listCheckpointTags(client, target.repository);
    if (!repositoryExists) unread = `${target.repository} does not exist in registry ${reg.name} (${reg.url})`;
    for (const tag of tags) {
      const n = parseCheckpointTag(tag)!;
      seen.add(n);
      const verdict = await readCheckpoint({ client, repository: target.repository, tag, n, keys, tsaRoots: material.tsaRoots, times });
      if (!verdict.ok) {
        const message = `checkpoint ${n} is forged or damaged: ${verdict.reason}; it is not trusted`;
        f.problems.push(message);
        f.reports.push({ number: n, status: "forged", seq: null, message });
        continue;
      }
      genuine.push(verdict.payload);
    }
  } catch (e) {
    unread = `checkpoints in ${target.repository} could not be read (${(e as Error).message})`;
  }
  return { genuine, times, seen, unread };
}

/** Compares each genuine checkpoint with the table's row at its seq (one query); returns the last anchored seq. */
async function checkAgainstTable(genuine: CheckpointPayload[], times: Map<number, CheckpointTime>, lastSeq: bigint, f: Findings): Promise<bigint | null> {
  const seqs = [...new Set(genuine.map((p) => BigInt(p.seq)))];
  const rows = seqs.length ? await db.auditEvent.findMany({ where: { seq: { in: seqs } }, select: { seq: true, hash: true } }) : [];
  const hashes = new Map(rows.map((r) => [r.seq, r.hash]));
  let lastAnchored: bigint | null = null;
  for (const p of genuine) {
    const wrong = compareCheckpoint(p, { lastSeq, hashAt: (s) => hashes.get(s) });
    if (wrong) {
      f.problems.push(wrong.message);
      f.reports.push({ number: p.checkpoint, status: wrong.kind, seq: p.seq, message: wrong.message });
    } else {
      const time = times.get(p.checkpoint);
      const when = !time
        ? ""
        : time.kind === "trusted"
          ? `; made by ${time.at} (trusted: ${time.by})`
          : time.kind === "claimed"
            ? `; made at ${time.at} (claimed: ${time.reason})`
            : `; its timestamp token fails (${time.reason})`;
      f.reports.push({
        number: p.checkpoint,
        status: "ok",
        seq: p.seq,
        message: `checkpoint ${p.checkpoint} at seq ${BigInt(p.seq).toLocaleString("en-US")} holds${when}`,
        time,
      });
      if (lastAnchored === null || BigInt(p.seq) > lastAnchored) lastAnchored = BigInt(p.seq);
    }
  }
  return lastAnchored;
}

/**
 * What the database says was made, against what the registry holds (only judged when the registry could be read),
 * and the other way round: a genuine checkpoint in the registry with no row is one the database lost track of (rows
 * deleted, or a database restored from before it), and no checkpoint is made until that is resolved.
 */
async function checkRecordedAreInRegistry(
  seen: Set<number>,
  genuine: CheckpointPayload[],
  repository: string,
  registryRead: boolean,
  f: Findings,
): Promise<Set<number>> {
  const recorded = await db.auditCheckpoint.findMany({
    orderBy: { number: "asc" },
    select: { number: true, headSeq: true, pushedAt: true, lastError: true, at: true },
  });
  const pending = new Set(recorded.filter((r) => !r.pushedAt).map((r) => r.number));
  const rows = new Set(recorded.map((r) => r.number));
  for (const p of genuine)
    if (!rows.has(p.checkpoint))
      f.problems.push(
        `checkpoint ${p.checkpoint} is in ${repository} but the database has no record of it: the database's checkpoint records disagree with the registry, and no checkpoint is made until that is resolved`,
      );
  for (const r of recorded) {
    if (seen.has(r.number)) continue;
    if (!r.pushedAt) {
      const message = `checkpoint ${r.number} (seq ${r.headSeq.toLocaleString("en-US")}, made ${r.at.toISOString()}) is not in the registry yet${r.lastError ? `: ${r.lastError}` : ""}`;
      f.gaps.push(message);
      f.reports.push({ number: r.number, status: "pending", seq: r.headSeq.toString(), message });
    } else if (registryRead) {
      const message = `checkpoint ${r.number} was pushed at ${r.pushedAt.toISOString()} but is missing from ${repository}`;
      f.problems.push(message);
      f.reports.push({ number: r.number, status: "missing", seq: r.headSeq.toString(), message });
    }
  }
  return pending;
}

/** The checkpoints the trail itself records making (its audit.checkpoint events), oldest first. */
async function checkpointsInTrail(f: Findings) {
  const rows = await db.auditEvent.findMany({ where: { action: "audit.checkpoint" }, orderBy: { seq: "asc" }, select: { seq: true, detail: true } });
  const made: { eventSeq: bigint; number: number; headSeq: string; headHash: string }[] = [];
  for (const r of rows) {
    const problem = auditDetailProblem("audit.checkpoint", r.detail);
    if (problem) {
      f.problems.push(`the audit.checkpoint event at seq ${r.seq.toLocaleString("en-US")} is damaged (${problem})`);
      continue;
    }
    const d = r.detail as { checkpoint: number; headSeq: string; headHash: string };
    made.push({ eventSeq: r.seq, number: d.checkpoint, headSeq: d.headSeq, headHash: d.headHash });
  }
  return made;
}

/**
 * Each checkpoint the trail records making must be in the registry as recorded: a genuine checkpoint there that names
 * another head is not the one made (its tag was overwritten, or the number was made twice), and one that is missing
 * while the database does not call it pending was lost, or the registry read is not the one pushed to.
 */
function checkTrailAgainstRegistry(
  made: Awaited<ReturnType<typeof checkpointsInTrail>>,
  genuine: CheckpointPayload[],
  seen: Set<number>,
  pending: Set<number>,
  repository: string,
  f: Findings,
): void {
  const byNumber = new Map(genuine.map((p) => [p.checkpoint, p]));
  const fmt = (s: string | bigint) => BigInt(s).toLocaleString("en-US");
  for (const m of made) {
    const p = byNumber.get(m.number);
    const recorded = `the trail's event at seq ${fmt(m.eventSeq)} records checkpoint ${m.number} made at seq ${fmt(m.headSeq)} (hash ${m.headHash.slice(0, 12)}…)`;
    if (p) {
      if (p.seq === m.headSeq && p.hash === m.headHash) continue;
      const message = `${recorded}; the registry's checkpoint ${m.number} names seq ${fmt(p.seq)} (hash ${p.hash.slice(0, 12)}…) instead (a tag overwritten, or the number made twice)`;
      f.problems.push(message);
      const report = f.reports.find((r) => r.number === m.number);
      if (report?.status === "ok") Object.assign(report, { status: "disagrees", message });
      // A forged tag (reported already) or one still pending (a gap) says nothing more.
    } else if (!seen.has(m.number) && !pending.has(m.number) && !f.reports.some((r) => r.number === m.number && r.status === "missing")) {
      const message = `${recorded}, but ${repository} does not hold it`;
      f.problems.push(message);
      f.reports.push({ number: m.number, status: "missing", seq: m.headSeq, message });
    }
  }
}

/**
 * Checks the chain against every checkpoint in the registry. The registry's signed copies are the reference; the
 * checkpoint rows in the database only say what was made and whether it was pushed, and are never trusted.
 */
/**
 * Once the trail records checkpoints, events left unanchored for longer than two checkpoint intervals (and ten minutes)
 * are a problem, not a gap: the scheduler anchors the trail every IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES, and a tail that
 * stays unanchored is one a superuser could rewrite undetected. Found by review: a database writer set the last
 * checkpoint row's time and head far ahead, checkpoints stopped, and verify said ok with a growing gap. Checkpointing's
 * own events (made, refused, the CLI's) do not count: they follow every checkpoint.
 */
async function checkNotStalled(anchored: bigint, f: Findings, now: Date): Promise<void> {
  const minutes = env().IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES;
  const due = new Date(now.getTime() - (2 * minutes + 10) * 60_000);
  const oldest = await db.auditEvent.findFirst({
    where: { seq: { gt: anchored }, action: { notIn: ["audit.checkpoint", "cli.audit.checkpoint", "audit.checkpoint.refused"] } },
    orderBy: { seq: "asc" },
    select: { seq: true, at: true },
  });
  if (oldest && oldest.at < due)
    f.problems.push(
      `checkpoints have stalled: events from seq ${oldest.seq.toLocaleString("en-US")} (${oldest.at.toISOString()}) on are not anchored, though one is due every ${minutes} minute(s) (IMPRIMATUR_AUDIT_CHECKPOINT_MINUTES); run \`imprimatur audit checkpoint\` and check that the registry is reachable and the audit_checkpoints rows agree with the trail's audit.checkpoint events`,
    );
}

export async function verifyAuditCheckpoints({
  actor,
  registry,
  repository,
  now = new Date(),
}: {
  actor: Actor;
  registry?: string;
  repository?: string;
  /** The time a stalled tail is judged at (a test seam). */
  now?: Date;
}): Promise<AuditVerification> {
  requireRole(actor, ["admin", "manager"], "verifying the audit trail");
  const chain = await verifyAuditChain();
  const head = await db.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
  const lastSeq = head?.seq ?? 0n;
  const f: Findings = { problems: [], gaps: [], reports: [] };
  if (!chain.ok) f.problems.push(`hash chain broken at seq ${chain.brokenSeq}: ${chain.reason}`);

  const target = checkpointTarget({ registry, repository });
  const made = await checkpointsInTrail(f);
  const { genuine, times, seen, unread } = await readRegistryCheckpoints(target, f);
  // Fail closed: once the trail records checkpoints made, a registry that cannot be read (down, several registries and
  // none chosen, a repository that is not there) leaves the trail unchecked, which must not read as "intact". A DB
  // writer who cut the tail could otherwise add a registry row or change the registry's URL and pass.
  let unverifiable: string | null = null;
  if (unread && made.length) {
    unverifiable = `${unread}, yet the trail records ${made.length} checkpoint(s) made; it is checked against none of them`;
    f.problems.push(`could not verify against the registry: ${unverifiable}`);
  } else if (unread) {
    // Nothing recorded yet (a new installation, or a registry never reached): what is not anchored is a gap.
    f.gaps.push(`${unread}; the chain is checked against no checkpoint`);
  }
  // A token that fails (altered, over other bytes, an untrusted TSA) is reported, never read as "no token".
  for (const [n, t] of times)
    if (t.kind === "failed") f.problems.push(`checkpoint ${n}'s timestamp token fails (${t.reason}); its time ${t.at} is only claimed`);
  const lastAnchored = await checkAgainstTable(genuine, times, lastSeq, f);
  const registryRead = unread === null;
  const pending = await checkRecordedAreInRegistry(seen, genuine, target.repository, registryRead, f);
  if (registryRead) checkTrailAgainstRegistry(made, genuine, seen, pending, target.repository, f);

  const { problems, gaps, reports } = f;
  if (made.length) await checkNotStalled(lastAnchored ?? 0n, f, now);
  if (lastSeq > (lastAnchored ?? 0n))
    gaps.push(
      `${(lastSeq - (lastAnchored ?? 0n)).toLocaleString("en-US")} event(s) after ${lastAnchored === null ? "the start" : `seq ${lastAnchored.toLocaleString("en-US")}`} are not anchored by a checkpoint yet`,
    );
  reports.sort((a, b) => a.number - b.number);
  return {
    ok: problems.length === 0,
    chain,
    tableEndsAt: lastSeq.toString(),
    checkpoints: reports,
    problems,
    gaps,
    lastAnchoredSeq: lastAnchored?.toString() ?? null,
    unverifiable,
  };
}

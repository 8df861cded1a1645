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
import { db } from "../../db";
import type { Digest } from "../../oci/digest";
import { OciError } from "../../oci/digest";
import { requireRole, type Actor } from "../actor";
import { registryClient, resolveRegistry } from "../registries/resolve-registry";
import { trustedAuditKeys } from "./audit-key";
import { loadTrust } from "../trust/load-trust";
import { checkpointTarget } from "./make-audit-checkpoint";
import { verifyAuditChain } from "./verify-audit-chain";

export interface CheckpointReport {
  number: number;
  status: "ok" | "forged" | "cut" | "rewritten" | "missing" | "pending";
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
  /** Not failures: what is not anchored yet (pending pushes, an unreachable registry, the unanchored tail). */
  gaps: string[];
  lastAnchoredSeq: string | null;
}

const MAX_CHECKPOINTS = 100_000;

type ReadClient = ReturnType<typeof registryClient>;

/** The checkpoint tags in the repository, sorted (a repository that does not exist yet has none). */
async function listCheckpointTags(client: ReadClient, repository: string) {
  const tags: string[] = [];
  try {
    for await (const t of client.tags(repository)) {
      if (parseCheckpointTag(t) !== null) tags.push(t);
      if (tags.length > MAX_CHECKPOINTS) break;
    }
  } catch (e) {
    // A repository that does not exist yet has no checkpoints; anything else is an outage.
    if (!(e instanceof OciError && e.code === "NOT_FOUND")) throw e;
  }
  tags.sort();
  return tags;
}

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

/** Reads every checkpoint tag in the registry; a forged one is reported, an unreadable registry is a gap. */
async function readRegistryCheckpoints(target: ReturnType<typeof checkpointTarget>, f: Findings) {
  const genuine: CheckpointPayload[] = [];
  const times = new Map<number, CheckpointTime>();
  const seen = new Set<number>();
  try {
    const keys = await trustedAuditKeys();
    const { material } = await loadTrust();
    const reg = await resolveRegistry(target.registry);
    const client = registryClient(reg, "read");
    const tags = await listCheckpointTags(client, target.repository);
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
    f.gaps.push(`checkpoints in ${target.repository} could not be read (${(e as Error).message}); the chain is checked against none of them`);
  }
  return { genuine, times, seen };
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

/** What the database says was made, against what the registry holds (only judged when the registry could be read). */
async function checkRecordedAreInRegistry(seen: Set<number>, repository: string, f: Findings): Promise<void> {
  const recorded = await db.auditCheckpoint.findMany({
    orderBy: { number: "asc" },
    select: { number: true, headSeq: true, pushedAt: true, lastError: true, at: true },
  });
  const registryRead = !f.gaps.length;
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
}

/**
 * Checks the chain against every checkpoint in the registry. The registry's signed copies are the reference; the
 * checkpoint rows in the database only say what was made and whether it was pushed, and are never trusted.
 */
export async function verifyAuditCheckpoints({
  actor,
  registry,
  repository,
}: {
  actor: Actor;
  registry?: string;
  repository?: string;
}): Promise<AuditVerification> {
  requireRole(actor, ["admin", "manager"], "verifying the audit trail");
  const chain = await verifyAuditChain();
  const head = await db.auditEvent.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
  const lastSeq = head?.seq ?? 0n;
  const f: Findings = { problems: [], gaps: [], reports: [] };
  if (!chain.ok) f.problems.push(`hash chain broken at seq ${chain.brokenSeq}: ${chain.reason}`);

  const target = checkpointTarget({ registry, repository });
  const { genuine, times, seen } = await readRegistryCheckpoints(target, f);
  // A token that fails (altered, over other bytes, an untrusted TSA) is reported, never read as "no token".
  for (const [n, t] of times)
    if (t.kind === "failed") f.problems.push(`checkpoint ${n}'s timestamp token fails (${t.reason}); its time ${t.at} is only claimed`);
  const lastAnchored = await checkAgainstTable(genuine, times, lastSeq, f);
  await checkRecordedAreInRegistry(seen, target.repository, f);

  const { problems, gaps, reports } = f;
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
  };
}

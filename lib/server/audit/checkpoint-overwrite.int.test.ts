// A database writer (no master key, no registry credentials) deletes the audit_checkpoints rows after rewriting the
// trail: the server must not sign the forged head under the numbers it forgot and push it over the genuine tags.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKPOINT_TYPE, checkpointBytes, checkpointManifest, checkpointTag } from "../../audit-checkpoint";
import { auditRowHash } from "../../audit-chain";
import { db, disconnectDb } from "../../db";
import { env } from "../../env";
import type { Actor } from "../actor";
import { registryClient, resolveRegistry } from "../registries/resolve-registry";
import { recordAuditEvent } from "./append-audit-event";
import { loadAuditSigner } from "./audit-key";
import { makeAuditCheckpoint, pushPendingCheckpoints, scheduledAuditCheckpoint } from "./make-audit-checkpoint";
import { verifyAuditChain } from "./verify-audit-chain";
import { verifyAuditCheckpoints } from "./verify-audit-checkpoints";

const cli: Actor = { kind: "cli", label: "checkpoint-overwrite-test" };
let sql: pg.Client;

async function events(n: number, tag: string) {
  for (let i = 0; i < n; i++)
    await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `${tag} #${i}` } });
}

/** The DB writer: rewrites row `seq`'s detail and recomputes every later hash, so the chain alone looks intact. */
async function rewriteFrom(seq: bigint, detail: object) {
  const rows = await db.auditEvent.findMany({ where: { seq: { gte: seq } }, orderBy: { seq: "asc" } });
  let prev = (await db.auditEvent.findUniqueOrThrow({ where: { seq: seq - 1n } })).hash;
  await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  try {
    for (const r of rows) await sql.query("UPDATE audit_events SET hash = 'tmp-' || seq WHERE seq = $1", [r.seq.toString()]);
    for (const r of rows) {
      const row = { ...r, detail: r.seq === seq ? detail : r.detail, prevHash: prev };
      const hash = auditRowHash(row);
      await sql.query("UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4", [
        JSON.stringify(row.detail),
        prev,
        hash,
        r.seq.toString(),
      ]);
      prev = hash;
    }
  } finally {
    await sql.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  }
}

const repo = () => env().IMPRIMATUR_AUDIT_REPOSITORY;
async function tagDigest(n: number): Promise<string | null> {
  const client = registryClient(await resolveRegistry("default"));
  return (await client.headManifest(repo(), checkpointTag(n)))?.digest ?? null;
}

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await disconnectDb();
});

describe("checkpoint tags in the registry are written once", () => {
  let genuine: (string | null)[] = [];

  it("a pending checkpoint whose tag already holds the same bytes is recorded as pushed, not pushed again", async () => {
    await events(4, "a");
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    await events(4, "b");
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    genuine = [await tagDigest(1), await tagDigest(2)];
    // As if the server died between the push and recording it.
    await db.auditCheckpoint.update({ where: { number: 2 }, data: { pushedAt: null, reference: null } });
    expect(await pushPendingCheckpoints()).toEqual({ pushed: 1, pending: 0 });
    const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 2 } });
    expect(row.reference).toBe(`default/${repo()}@${genuine[1]}`);
    expect(await tagDigest(2)).toBe(genuine[1]);
    expect((await verifyAuditCheckpoints({ actor: cli })).ok).toBe(true);
  });

  it("refuses to number a checkpoint the registry already holds after the database's rows were deleted, and audits it once", async () => {
    // The DB writer rewrites an event checkpoint 1 covers, recomputes the chain, and forgets the checkpoints.
    await rewriteFrom(2n, { status: 403, reason: "nothing to see here" });
    expect((await verifyAuditChain()).ok).toBe(true);
    await sql.query("DELETE FROM audit_checkpoints");
    // The scheduler's ticks (the trail moved each time) must not sign the forged head as checkpoint 1 over the genuine one.
    let now = Date.now();
    for (let i = 0; i < 2; i++) {
      await events(1, `tick ${i}`);
      now += 61 * 60_000;
      await expect(scheduledAuditCheckpoint(new Date(now))).rejects.toMatchObject({
        code: "CONFLICT",
        message: expect.stringMatching(/already holds checkpoint-00000001, but the database's checkpoint records end at none.*never overwritten/),
      });
    }
    expect([await tagDigest(1), await tagDigest(2), await tagDigest(3)]).toEqual([...genuine, null]);
    expect(await db.auditCheckpoint.count()).toBe(0);
    const refused = await db.auditEvent.findMany({ where: { action: "audit.checkpoint.refused" } });
    expect(refused.map((e) => [e.outcome, e.detail])).toEqual([["failure", { checkpoint: 1, recorded: 0, registry: "default", repository: repo() }]]);

    const v = await verifyAuditCheckpoints({ actor: cli });
    expect(v.ok).toBe(false);
    expect(v.checkpoints.map((c) => [c.number, c.status])).toEqual([
      [1, "rewritten"],
      [2, "rewritten"],
    ]);
    expect(v.problems).toContain(
      `checkpoint 1 is in ${repo()} but the database has no record of it: the database's checkpoint records disagree with the registry, and no checkpoint is made until that is resolved`,
    );
  });

  it("leaves a tag alone when a pending checkpoint made while the registry was unreachable would land on it", async () => {
    // Made while the pre-check cannot reach the registry: recorded as number 1 and pending.
    await db.registry.create({ data: { name: "down", url: "http://127.0.0.1:9" } });
    await events(1, "c");
    const r = await makeAuditCheckpoint({ actor: cli, registry: "down" });
    expect(r).toMatchObject({ status: "pending", number: 1 });
    expect(await pushPendingCheckpoints()).toEqual({ pushed: 0, pending: 1 });
    const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 1 } });
    expect(row.pushedAt).toBeNull();
    expect(row.lastError).toMatch(/checkpoint-00000001 already exists in .* with other content .*not overwritten/);
    expect(await tagDigest(1)).toBe(genuine[0]);
    // The trail now records two checkpoints numbered 1; the registry's (genuine) one is not the second.
    const v = await verifyAuditCheckpoints({ actor: cli });
    expect(v.ok).toBe(false);
    expect(v.problems.some((p) => /records checkpoint 1 made at seq .*; the registry's checkpoint 1 names seq .* instead/.test(p))).toBe(true);
  });
});

describe("verification holds the registry to the trail's own audit.checkpoint events", () => {
  it("fails when a genuine checkpoint in the registry is not the one the trail recorded (an overwritten tag)", async () => {
    // What the old code did: a second checkpoint 2, signed by the audit key over another head, pushed over the tag.
    const signer = await loadAuditSigner();
    const recorded = (await db.auditEvent.findMany({ where: { action: "audit.checkpoint" }, orderBy: { seq: "asc" } }))[1]!;
    const head = await db.auditEvent.findFirstOrThrow({ orderBy: { seq: "desc" } });
    const payload = checkpointBytes({
      type: CHECKPOINT_TYPE,
      checkpoint: 2,
      seq: head.seq.toString(),
      hash: head.hash,
      time: new Date().toISOString(),
      key: signer.fingerprint,
    });
    const client = registryClient(await resolveRegistry("default"), "push");
    await client.putBlob(repo(), Buffer.from("{}"));
    await client.putBlob(repo(), payload);
    const manifest = checkpointManifest(payload, signer.sign(payload).toString("base64"), new Date().toISOString());
    await client.putManifest(repo(), checkpointTag(2), manifest, "application/vnd.oci.image.manifest.v1+json");

    const v = await verifyAuditCheckpoints({ actor: cli });
    expect(v.ok).toBe(false);
    // The registry's checkpoint 2 agrees with the table (it was signed over the current head): only the trail's record
    // of what checkpoint 2 was catches it.
    expect(v.checkpoints.find((c) => c.number === 2)?.status).toBe("disagrees");
    expect(v.problems).toContain(
      `the trail's event at seq ${recorded.seq.toLocaleString("en-US")} records checkpoint 2 made at seq ${BigInt((recorded.detail as { headSeq: string }).headSeq).toLocaleString("en-US")} (hash ${(recorded.detail as { headHash: string }).headHash.slice(0, 12)}…); the registry's checkpoint 2 names seq ${head.seq.toLocaleString("en-US")} (hash ${head.hash.slice(0, 12)}…) instead (a tag overwritten, or the number made twice)`,
    );
  });
});

import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHECKPOINT_TYPE, checkpointBytes, checkpointManifest, checkpointTag } from "../../audit-checkpoint";
import { auditRowHash } from "../../audit-chain";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { generateP256, signP256 } from "../../signing/keys/software";
import type { Actor } from "../actor";
import { registryClient, resolveRegistry } from "../registries/resolve-registry";
import { recordAuditEvent } from "./append-audit-event";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";
import { makeAuditCheckpoint, pushPendingCheckpoints } from "./make-audit-checkpoint";
import { stageAuditEvent } from "./stage-audit-event";
import { verifyAuditChain } from "./verify-audit-chain";
import { verifyAuditCheckpoints } from "./verify-audit-checkpoints";

const cli: Actor = { kind: "cli", label: "checkpoint-test" };
const repo = (s: string) => `imprimatur/audit-${s}-${randomBytes(4).toString("hex")}`;
let sql: pg.Client;

async function events(n: number, tag: string) {
  for (let i = 0; i < n; i++)
    await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `${tag} #${i}` } });
}

/** Rewrites the detail of row `seq` and recomputes every hash after it: the chain is consistent again afterwards. */
async function rewriteFrom(seq: bigint, detail: object) {
  const rows = await db.auditEvent.findMany({ where: { seq: { gte: seq } }, orderBy: { seq: "asc" } });
  let prev = (await db.auditEvent.findUniqueOrThrow({ where: { seq: seq - 1n } })).hash;
  await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  try {
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
  return rows;
}

async function restore(rows: { seq: bigint; detail: unknown; prevHash: string; hash: string }[]) {
  await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  try {
    // Hashes are unique: clear them first, then put the originals back.
    for (const r of rows) await sql.query("UPDATE audit_events SET hash = 'tmp-' || seq WHERE seq = $1", [r.seq.toString()]);
    for (const r of rows)
      await sql.query("UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4", [
        JSON.stringify(r.detail),
        r.prevHash,
        r.hash,
        r.seq.toString(),
      ]);
  } finally {
    await sql.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  }
}

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await disconnectDb();
});

describe("audit checkpoints in the registry", () => {
  const main = repo("main");

  it("signs the head, pushes it as an OCI artifact, and verification agrees with it", async () => {
    await events(5, "a");
    const r = await makeAuditCheckpoint({ actor: cli, registry: "default", repository: main });
    expect(r.status).toBe("pushed");
    if (r.status !== "pushed") return;
    expect(r.number).toBe(1);
    // The artifact is in the registry, under its tag, with the signed payload as its layer.
    const reg = await resolveRegistry("default");
    const m = JSON.parse((await registryClient(reg).getManifest(main, checkpointTag(1))).bytes.toString()) as {
      artifactType: string;
      layers: { digest: `sha256:${string}` }[];
    };
    expect(m.artifactType).toBe("application/vnd.dev.imprimatur.audit.checkpoint.v1+json");
    const payload = JSON.parse((await registryClient(reg).getBlob(main, m.layers[0]!.digest)).toString());
    const head = await db.auditEvent.findFirstOrThrow({ where: { seq: BigInt(r.seq) } });
    expect(payload).toMatchObject({ type: CHECKPOINT_TYPE, checkpoint: 1, seq: r.seq, hash: head.hash });
    expect(await db.auditEvent.count({ where: { action: "audit.checkpoint" } })).toBe(1);
    // Nothing new: no second checkpoint.
    expect((await makeAuditCheckpoint({ actor: cli, registry: "default", repository: main })).status).toBe("unchanged");
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main });
    expect(v.problems).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.checkpoints.map((c) => [c.number, c.status])).toEqual([[1, "ok"]]);
  });

  it("leaves a checkpoint pending when the registry is down, without blocking other changes, and pushes it later", async () => {
    await db.registry.create({ data: { name: "down", url: "http://127.0.0.1:9" } });
    await events(2, "b");
    const r = await makeAuditCheckpoint({ actor: cli, registry: "down", repository: main });
    expect(r.status).toBe("pending");
    // The chain goes on: an audited change right after it commits.
    await events(1, "c");
    const row = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 2 } });
    expect(row.pushedAt).toBeNull();
    expect(row.lastError).toBeTruthy();
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main });
    expect(v.ok).toBe(true);
    expect(v.gaps.join("\n")).toMatch(/checkpoint 2 \(seq [\d,]+, made .*\) is not in the registry yet/);
    expect((await pushPendingCheckpoints({ registry: "default", repository: main })).pushed).toBe(1);
    const after = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main });
    expect(after.checkpoints.map((c) => [c.number, c.status])).toEqual([
      [1, "ok"],
      [2, "ok"],
    ]);
  });

  it("reports a forged checkpoint: another key, a key planted in the database, no signature", async () => {
    const forgedRepo = repo("forged");
    const reg = await resolveRegistry("default");
    const client = registryClient(reg, "push");
    const head = await db.auditEvent.findFirstOrThrow({ orderBy: { seq: "desc" } });
    const push = async (n: number, key: { fingerprint: string; privateKeyPem: string } | null) => {
      const payload = checkpointBytes({
        type: CHECKPOINT_TYPE,
        checkpoint: n,
        seq: head.seq.toString(),
        hash: head.hash,
        time: new Date().toISOString(),
        key: key?.fingerprint ?? "sha256:none",
      });
      await client.putBlob(forgedRepo, Buffer.from("{}"));
      await client.putBlob(forgedRepo, payload);
      const sig = key ? signP256(key.privateKeyPem, payload).toString("base64") : "";
      const manifest = JSON.parse(checkpointManifest(payload, sig || "x", new Date().toISOString()).toString());
      if (!key) delete manifest.annotations["dev.imprimatur.audit.signature"];
      await client.putManifest(forgedRepo, checkpointTag(n), Buffer.from(JSON.stringify(manifest)), "application/vnd.oci.image.manifest.v1+json");
    };
    await push(1, generateP256());
    // A DBA inserts their own key: it is not sealed with the master key, so it is not an audit key.
    const planted = generateP256();
    await db.auditKey.create({
      data: { id: randomUUID(), fingerprint: planted.fingerprint, publicKeyPem: planted.publicKeyPem, encryptedPrivateKey: Buffer.from(planted.privateKeyPem) },
    });
    await push(2, planted);
    await push(3, null);
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: forgedRepo });
    expect(v.ok).toBe(false);
    expect(v.checkpoints.map((c) => [c.number, c.status])).toEqual([
      [1, "forged"],
      [2, "forged"],
      [3, "forged"],
    ]);
    expect(v.problems[0]).toMatch(/checkpoint 1 is forged or damaged: signed by sha256:[0-9a-f]{64}, which is not an audit key/);
    expect(v.problems[1]).toMatch(/checkpoint 2 is forged or damaged: signed by .* not an audit key/);
    expect(v.problems[2]).toMatch(/checkpoint 3 is forged or damaged: unsigned/);
  });

  it("names a rewritten row even when every hash after it was recomputed", async () => {
    const cp1 = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 1 } });
    const victim = await db.auditEvent.findFirstOrThrow({ where: { action: "request.denied", seq: { lt: cp1.headSeq } }, orderBy: { seq: "desc" } });
    const saved = await rewriteFrom(victim.seq, { status: 403, reason: "a #999" });
    try {
      // The chain alone cannot tell: it is consistent again.
      expect((await verifyAuditChain()).ok).toBe(true);
      const v = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main });
      expect(v.ok).toBe(false);
      expect(v.checkpoints.find((c) => c.number === 1)?.status).toBe("rewritten");
      expect(v.problems[0]).toBe(
        `checkpoint 1 names seq ${cp1.headSeq.toLocaleString("en-US")} with hash ${cp1.headHash.slice(0, 12)}…; the table's row hashes to ${(await db.auditEvent.findUniqueOrThrow({ where: { seq: cp1.headSeq } })).hash.slice(0, 12)}… (rows up to ${cp1.headSeq.toLocaleString("en-US")} were rewritten)`,
      );
    } finally {
      await restore(saved);
    }
    expect((await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main })).ok).toBe(true);
  });

  it("names a cut tail: the checkpoint's seq against the table's end", async () => {
    const cp2 = await db.auditCheckpoint.findUniqueOrThrow({ where: { number: 2 } });
    const keep = cp2.headSeq - 3n;
    await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
    try {
      await sql.query("DELETE FROM audit_events WHERE seq > $1", [keep.toString()]);
    } finally {
      await sql.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
    }
    expect((await verifyAuditChain()).ok).toBe(true);
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "default", repository: main });
    expect(v.ok).toBe(false);
    expect(v.tableEndsAt).toBe(keep.toString());
    expect(v.problems).toContain(
      `checkpoint 2 names seq ${cp2.headSeq.toLocaleString("en-US")}; the table ends at ${keep.toLocaleString("en-US")} (its tail was cut)`,
    );
  });
});

describe("least-privilege database role (scripts/sql/app-role.sql)", () => {
  it("lets the app read and append the trail but not drop or disable its triggers, nor update, delete or truncate", async () => {
    const script = readFileSync(join(__dirname, "../../../scripts/sql/app-role.sql"), "utf8");
    await sql.query(script);
    await sql.query("ALTER ROLE imprimatur_app PASSWORD 'app-role-test-pass'");
    const u = new URL(process.env.DATABASE_URL!);
    u.username = "imprimatur_app";
    u.password = "app-role-test-pass";
    const app = new pg.Client({ connectionString: u.toString() });
    await app.connect();
    try {
      await expect(app.query("DROP TRIGGER audit_events_no_update_delete ON audit_events")).rejects.toThrow(/must be owner/);
      await expect(app.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")).rejects.toThrow(/must be owner/);
      await expect(app.query("ALTER TABLE audit_events DISABLE TRIGGER ALL")).rejects.toThrow(/must be owner/);
      await expect(app.query("DROP FUNCTION audit_events_refuse_change() CASCADE")).rejects.toThrow(/must be owner/);
      await expect(app.query("UPDATE audit_events SET action = 'x' WHERE seq = 1")).rejects.toThrow(/permission denied/);
      await expect(app.query("DELETE FROM audit_events WHERE seq = 1")).rejects.toThrow(/permission denied/);
      await expect(app.query("TRUNCATE audit_events")).rejects.toThrow(/permission denied/);
      // Reading and appending work (rolled back: this row is not part of the chain).
      expect((await app.query("SELECT count(*)::int AS n FROM audit_events")).rows[0].n).toBeGreaterThan(0);
      await app.query("BEGIN");
      await app.query(
        `INSERT INTO audit_events (seq, at, actor_type, actor_label, action, outcome, detail, prev_hash, hash) VALUES (999999, now(), 'system', 'x', 'test.event', 'success', '{}', 'p', 'h-${randomBytes(4).toString("hex")}')`,
      );
      await app.query("ROLLBACK");
      // And the rest of the app's tables stay writable.
      await app.query("BEGIN");
      await app.query("UPDATE audit_checkpoints SET attempts = attempts WHERE number = 1");
      await app.query("ROLLBACK");
    } finally {
      await app.end();
    }
  });

  it("lets the app stage events but not delete or rewrite them before the fold, which still chains them as the app", async () => {
    await sql.query(readFileSync(join(__dirname, "../../../scripts/sql/app-role.sql"), "utf8"));
    await sql.query("ALTER ROLE imprimatur_app PASSWORD 'app-role-test-pass'");
    const ownerUrl = process.env.DATABASE_URL!;
    const u = new URL(ownerUrl);
    u.username = "imprimatur_app";
    u.password = "app-role-test-pass";
    const app = new pg.Client({ connectionString: u.toString() });
    await app.connect();
    const mallory: Actor = { kind: "cli", label: "mallory" };
    const denial = (reason: string) => ({ actor: mallory, action: "request.denied" as const, outcome: "denied" as const, detail: { status: 403, reason } });
    try {
      await stageAuditEvent(denial("mallory tried to rotate a stage key"));
      await stageAuditEvent(denial("mallory tried to approve her own image"));
      await expect(app.query("DELETE FROM audit_outbox WHERE detail->>'reason' LIKE '%stage key%'")).rejects.toThrow(/permission denied/);
      await expect(app.query("UPDATE audit_outbox SET actor_label = 'cli:bob', at = at - interval '30 days'")).rejects.toThrow(/permission denied/);
      await expect(app.query("TRUNCATE audit_outbox")).rejects.toThrow(/permission denied/);
      const staged = (await app.query("SELECT id::text FROM audit_outbox ORDER BY id")).rows.map((r: { id: string }) => r.id);
      expect(staged).toHaveLength(2);
      // It runs as its owner, with names resolved in this schema only (a caller's temporary table is never used).
      expect((await app.query("SELECT prosecdef, proconfig FROM pg_proc WHERE proname = 'audit_fold_outbox'")).rows).toEqual([
        { prosecdef: true, proconfig: ["search_path=public, pg_temp"] },
      ]);
      // The fold's function, called directly: a staged row leaves the outbox only by landing in audit_events (here
      // with made-up hashes, which the chain check would name), and an id that is not staged undoes the whole call.
      await app.query("BEGIN");
      try {
        const moved = await app.query("SELECT audit_fold_outbox($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS n", [
          [staged[0]],
          ["999999"],
          ["x"],
          ["forged"],
        ]);
        expect(moved.rows[0].n).toBe(1);
        const landed = await app.query("SELECT actor_label, detail->>'reason' AS reason FROM audit_events WHERE seq = 999999");
        expect(landed.rows).toEqual([{ actor_label: "cli:mallory", reason: "mallory tried to rotate a stage key" }]);
      } finally {
        await app.query("ROLLBACK");
      }
      await expect(
        app.query("SELECT audit_fold_outbox($1::bigint[], $2::bigint[], $3::text[], $4::text[])", [
          [staged[1], "123456789"],
          ["999998", "999999"],
          ["x", "y"],
          ["h1", "h2"],
        ]),
      ).rejects.toThrow(/2 id\(s\) given, 1 chained, 1 removed/);
      expect((await app.query("SELECT count(*)::int AS n FROM audit_outbox")).rows[0].n).toBe(2);

      // The fold itself, with the app connected as imprimatur_app: both denials in the trail, as staged.
      await disconnectDb();
      process.env.DATABASE_URL = u.toString();
      resetEnvCache();
      try {
        await stageAuditEvent(denial("staged by the app's role"));
        expect(await foldStagedAuditEvents()).toBe(3);
      } finally {
        await disconnectDb();
        process.env.DATABASE_URL = ownerUrl;
        resetEnvCache();
      }
      expect(await db.auditOutbox.count()).toBe(0);
      const chained = await db.auditEvent.findMany({ where: { actorLabel: "cli:mallory" }, orderBy: { seq: "asc" } });
      expect(chained.map((r) => (r.detail as { reason: string }).reason)).toEqual([
        "mallory tried to rotate a stage key",
        "mallory tried to approve her own image",
        "staged by the app's role",
      ]);
      expect(await verifyAuditChain()).toMatchObject({ ok: true });
    } finally {
      await app.end();
    }
  });
});

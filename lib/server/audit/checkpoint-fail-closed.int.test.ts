// Once the trail records checkpoints made, verification that cannot read them from the registry fails: a DB writer who
// cut the tail must not pass by making the audit registry unreadable (a second registry row, a changed URL).
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { runAuditCommand } from "../../../scripts/lib/cli-audit";
import { db, disconnectDb } from "../../db";
import { env, resetEnvCache } from "../../env";
import type { Actor } from "../actor";
import { recordAuditEvent } from "./append-audit-event";
import { makeAuditCheckpoint } from "./make-audit-checkpoint";
import { verifyAuditCheckpoints } from "./verify-audit-checkpoints";

const cli: Actor = { kind: "cli", label: "checkpoint-fail-closed-test" };
let sql: pg.Client;

async function events(n: number, tag: string) {
  for (let i = 0; i < n; i++)
    await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `${tag} #${i}` } });
}

/** The DB writer: deletes every event after `seq` (the append-only trigger switched off, as the table's owner can). */
async function cutAfter(seq: bigint | string) {
  await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  try {
    await sql.query("DELETE FROM audit_events WHERE seq > $1", [seq.toString()]);
  } finally {
    await sql.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  }
}

/**
 * Each scenario starts from the same trail with no checkpoint made and pushes to a repository of its own: the trail's
 * audit.checkpoint events are checked against whichever repository is verified, so scenarios must not share them.
 */
let scenario = 0;
let baseRepository = "";
async function startScenario() {
  await sql.query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete");
  try {
    await sql.query("DELETE FROM audit_events");
    await sql.query("INSERT INTO audit_events SELECT * FROM base_events");
  } finally {
    await sql.query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete");
  }
  await sql.query("DELETE FROM audit_checkpoints");
  await sql.query("DELETE FROM registries WHERE name NOT IN ('default', 'down')");
  process.env.IMPRIMATUR_AUDIT_REPOSITORY = `${baseRepository}-${++scenario}`;
  resetEnvCache();
}

/** `audit verify` as the CLI runs it: its exit code and what it wrote to stderr. */
async function cliVerify(): Promise<{ code: number; stderr: string }> {
  const err = vi.spyOn(console, "error").mockImplementation(() => {});
  vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    const code = await runAuditCommand("audit verify", {}, cli);
    return { code, stderr: err.mock.calls.map((c) => c.join(" ")).join("\n") };
  } finally {
    vi.restoreAllMocks();
  }
}

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
  baseRepository = process.env.IMPRIMATUR_AUDIT_REPOSITORY!;
  await db.registry.create({ data: { name: "down", url: "http://127.0.0.1:9" } });
  await events(2, "base");
  await sql.query("CREATE TEMP TABLE base_events AS SELECT * FROM audit_events");
});
afterEach(() => {
  delete process.env.IMPRIMATUR_AUDIT_REGISTRY;
  resetEnvCache();
});
afterAll(async () => {
  await sql.end();
  await disconnectDb();
});

describe("verifying against a registry that cannot be read", () => {
  it("is only a gap while the trail records no checkpoint made", async () => {
    await startScenario();
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "down" });
    expect(v.ok).toBe(true);
    expect(v.unverifiable).toBeNull();
    expect(v.gaps.join("\n")).toMatch(/could not be read/);
    // A repository nobody pushed to yet: a new installation.
    const newInstall = await verifyAuditCheckpoints({ actor: cli });
    expect(newInstall.ok).toBe(true);
    expect(newInstall.gaps.join("\n")).toContain(`${env().IMPRIMATUR_AUDIT_REPOSITORY} does not exist in registry default`);
  });

  it("fails, and `audit verify` exits 1 saying so, once checkpoints were made", async () => {
    await startScenario();
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    expect((await verifyAuditCheckpoints({ actor: cli })).ok).toBe(true);
    const v = await verifyAuditCheckpoints({ actor: cli, registry: "down" });
    expect(v.ok).toBe(false);
    expect(v.unverifiable).toMatch(/could not be read .*yet the trail records 1 checkpoint\(s\) made/);
    expect(v.problems).toEqual([`could not verify against the registry: ${v.unverifiable}`]);

    process.env.IMPRIMATUR_AUDIT_REGISTRY = "down";
    resetEnvCache();
    const r = await cliVerify();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not verify against the registry: checkpoints in .* could not be read/);
    expect(r.stderr).not.toMatch(/BROKEN/);
  });

  it("a pending checkpoint is a gap; the same checkpoint with its row deleted is missing", async () => {
    await startScenario();
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    await events(2, "b");
    expect((await makeAuditCheckpoint({ actor: cli, registry: "down" })).status).toBe("pending");
    const pending = await verifyAuditCheckpoints({ actor: cli });
    expect(pending.ok).toBe(true);
    expect(pending.gaps.join("\n")).toMatch(/checkpoint 2 .* is not in the registry yet/);
    // The DB writer hides that a checkpoint was ever made: the trail's own event still says so.
    await sql.query("DELETE FROM audit_checkpoints WHERE number = 2");
    const v = await verifyAuditCheckpoints({ actor: cli });
    expect(v.ok).toBe(false);
    expect(v.checkpoints.find((c) => c.number === 2)?.status).toBe("missing");
    expect(v.problems.join("\n")).toMatch(/records checkpoint 2 made at seq [\d,]+ \(hash [0-9a-f]{12}…\), but .* does not hold it/);
  });
});

describe("a cut tail hidden behind the audit registry's configuration", () => {
  it("a second registry row makes verification use `default` (README), which catches the cut", async () => {
    await startScenario();
    await events(5, "c");
    const c = await makeAuditCheckpoint({ actor: cli });
    expect(c.status).toBe("pushed");
    if (c.status !== "pushed") return;
    await events(5, "d");
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    expect((await verifyAuditCheckpoints({ actor: cli })).ok).toBe(true);

    // DB writer: cut everything after checkpoint 1's head (checkpoint 2 and its event go), then add a registry row.
    await cutAfter(c.seq);
    await sql.query("INSERT INTO registries (id, name, url) VALUES (gen_random_uuid(), 'zz-decoy', 'http://127.0.0.1:9')");
    const v = await verifyAuditCheckpoints({ actor: cli });
    expect(v.ok).toBe(false);
    expect(v.unverifiable).toBeNull();
    expect(v.problems.join("\n")).toMatch(/checkpoint 2 names seq [\d,]+; the table ends at [\d,]+ \(its tail was cut\)/);
    const r = await cliVerify();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BROKEN: checkpoint 2 names seq/);
  });

  it("several registries and none named `default` is refused loudly, never guessed", async () => {
    await startScenario();
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    await sql.query("UPDATE registries SET name = 'was-default' WHERE name = 'default'");
    // REGISTRY_URL would recreate `default`; without it, nothing names the audit registry.
    const saved = process.env.REGISTRY_URL;
    delete process.env.REGISTRY_URL;
    resetEnvCache();
    try {
      const v = await verifyAuditCheckpoints({ actor: cli });
      expect(v.ok).toBe(false);
      expect(v.unverifiable).toMatch(/several are configured .*none named default: set IMPRIMATUR_AUDIT_REGISTRY/);
    } finally {
      process.env.REGISTRY_URL = saved;
      resetEnvCache();
      await sql.query("UPDATE registries SET name = 'default' WHERE name = 'was-default'");
    }
  });

  it("a named audit registry whose URL now points where the repository is not fails instead of passing", async () => {
    await startScenario();
    const base = process.env.REGISTRY_URL!.replace(/\/+$/, "");
    await db.registry.create({ data: { name: "audit", url: base } });
    const target = { registry: "audit", repository: "imprimatur/audit-named-registry" };
    await events(3, "e");
    const c1 = await makeAuditCheckpoint({ actor: cli, force: true, ...target });
    await events(4, "f");
    const c2 = await makeAuditCheckpoint({ actor: cli, ...target });
    expect([c1.status, c2.status]).toEqual(["pushed", "pushed"]);
    if (c1.status !== "pushed" || c2.status !== "pushed") return;
    const cpEvent = await db.auditEvent.findFirstOrThrow({ where: { action: "audit.checkpoint", seq: { gt: BigInt(c1.seq) } }, orderBy: { seq: "asc" } });

    // DB writer: cut the tail after checkpoint c1's event, drop the checkpoint rows, point the registry elsewhere.
    await cutAfter(cpEvent.seq);
    await sql.query("DELETE FROM audit_checkpoints");
    await sql.query("UPDATE registries SET url = $1 WHERE name = 'audit'", [`${base}/nothing-here`]);
    const v = await verifyAuditCheckpoints({ actor: cli, ...target });
    expect(v.ok).toBe(false);
    expect(v.unverifiable).toMatch(/imprimatur\/audit-named-registry does not exist in registry audit \(.*\/nothing-here\), yet the trail records/);
  });
});

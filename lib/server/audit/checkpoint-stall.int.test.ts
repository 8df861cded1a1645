// Found by a review of the checkpoint fixes: a database writer with imprimatur_app's grants (UPDATE on
// audit_checkpoints) set the last checkpoint row's time and head far ahead; the scheduler then waited forever, a
// manual checkpoint said "unchanged", and verification said ok with a growing gap. The scheduler and the "unchanged"
// test now read the trail's own audit.checkpoint event, and a tail unanchored past two intervals is a problem.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { disconnectDb } from "../../db";
import type { Actor } from "../actor";
import { recordAuditEvent } from "./append-audit-event";
import { makeAuditCheckpoint, scheduledAuditCheckpoint } from "./make-audit-checkpoint";
import { verifyAuditCheckpoints } from "./verify-audit-checkpoints";

const cli: Actor = { kind: "cli", label: "checkpoint-stall-test" };
let sql: pg.Client;
async function events(n: number, tag: string) {
  for (let i = 0; i < n; i++)
    await recordAuditEvent({ actor: cli, action: "request.denied", outcome: "denied", detail: { status: 403, reason: `${tag} #${i}` } });
}
const inADay = () => new Date(Date.now() + 86_400_000);

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await disconnectDb();
});

describe("checkpoints cannot be stopped silently by a database writer", () => {
  it("a checkpoint row's time and head moved ahead stop nothing: the scheduler and a manual checkpoint still anchor the new events", async () => {
    await events(3, "a");
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    await sql.query("UPDATE audit_checkpoints SET at = '9999-12-31T00:00:00Z', head_seq = 9000000000000000 WHERE number = 1");
    await events(5, "after");
    const scheduled = await scheduledAuditCheckpoint(inADay());
    expect(scheduled, "the scheduler waited for a row dated 9999").not.toBeNull();
    expect(scheduled!.status).toBe("pushed");
    await events(2, "later");
    expect((await makeAuditCheckpoint({ actor: cli })).status, "a manual checkpoint called the new events unchanged").toBe("pushed");
  });

  it("a tail left unanchored past two checkpoint intervals is a problem, not a gap", async () => {
    await events(2, "tail");
    const fresh = await verifyAuditCheckpoints({ actor: cli });
    expect(fresh.problems.filter((p) => p.includes("stalled"))).toEqual([]);
    const stalled = await verifyAuditCheckpoints({ actor: cli, now: inADay() });
    expect(stalled.ok).toBe(false);
    expect(stalled.problems.join("\n")).toMatch(/checkpoints have stalled: events from seq \d+ .* are not anchored/);
    // Anchored again: only checkpointing's own events follow the last checkpoint.
    expect((await makeAuditCheckpoint({ actor: cli })).status).toBe("pushed");
    const anchored = await verifyAuditCheckpoints({ actor: cli, now: inADay() });
    expect(anchored.problems.filter((p) => p.includes("stalled"))).toEqual([]);
  });
});

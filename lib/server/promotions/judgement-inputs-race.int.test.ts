// An approval races a change to what it is judged by (trust, a stage's settings, a waiver, evidence, an advisory). The
// change requests re-evaluation of the standing approvals, which reads them after it commits: an approval judged on the
// old inputs and committed after that read would never be judged again. Approvals take an advisory lock shared, and
// re-evaluation waits for it exclusively before it reads them. Proven here with real Postgres locks: one connection
// holds the lock as the other side would, and the waiter shows in pg_locks until it is released.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { stopBoss } from "../jobs/boss";
import { upsertStage } from "../stages/upsert-stage";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { reviewRequest } from "./review-request";

const system: Actor = { kind: "system", label: "judgement-race" };
let client: RegistryClient;
let holder: pg.Client;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  holder = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await holder.connect();
});

afterAll(async () => {
  await holder.end();
  await stopBoss();
  await disconnectDb();
});

/** Someone waits for the judgement-inputs lock (granted = false in pg_locks), within 20 s. */
async function someoneWaits(): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await holder.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::int::oid AND objid = 0 AND NOT granted`,
      [ADVISORY_LOCKS.judgementInputs],
    );
    if (rows[0].n > 0) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Runs `fn` while `holder` holds the lock in `mode`, checks that `fn` waits for it, then releases it. */
async function whileHeld<T>(mode: "exclusive" | "shared", fn: () => Promise<T>): Promise<T> {
  await holder.query("BEGIN");
  await holder.query(mode === "exclusive" ? "SELECT pg_advisory_xact_lock($1::int, 0)" : "SELECT pg_advisory_xact_lock_shared($1::int, 0)", [
    ADVISORY_LOCKS.judgementInputs,
  ]);
  let settled = false;
  const running = fn().finally(() => (settled = true));
  try {
    expect(await someoneWaits(), "the other side waits for the lock").toBe(true);
    expect(settled).toBe(false);
  } finally {
    await holder.query("COMMIT");
  }
  return running;
}

describe("approvals and changes to what they are judged by", () => {
  it("an approval waits while re-evaluation holds the lock exclusively, then completes", async () => {
    const { requestId } = await pushedAndRequested({ client, repository: "judgement-race/app", stage: "build", label: "1" });
    const out = await whileHeld("exclusive", async () =>
      reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok" }),
    );
    expect(out.status).toBe("signed");
  });

  it("re-evaluation waits for an approval in flight before it reads the approvals it judges", async () => {
    await db.reevaluationRequest.create({ data: { imageId: null, trigger: "trust" } });
    // The holder plays an approval judged on the old inputs and not yet committed.
    const out = await whileHeld("shared", () => reevaluateApprovals());
    expect(out.evaluated).toBeGreaterThan(0);
  });

  it("an approval whose signature is still pending is judged again like a signed one", async () => {
    const { requestId, digest } = await pushedAndRequested({ client, repository: "judgement-race/pending", stage: "test", label: "1" });
    const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok" });
    // The registry was down: the signature waits to be pushed.
    await db.approval.update({ where: { id: out.approvalId! }, data: { status: "signing" } });
    // The stage now requires a clean scan, which this image does not have.
    await upsertStage({ actor: system, name: "test", settings: { gates: { findings: { max: { critical: 0 }, count: "all" } } } });
    try {
      await reevaluateApprovals();
      const image = await db.image.findFirstOrThrow({ where: { digest } });
      const risk = await db.stageRisk.findFirst({ where: { imageId: image.id } });
      expect(risk?.approvalId).toBe(out.approvalId);
    } finally {
      await upsertStage({ actor: system, name: "test", settings: { gates: {} } });
    }
  });

  it("approvals do not wait for each other", async () => {
    const { requestId } = await pushedAndRequested({ client, repository: "judgement-race/app", stage: "build", label: "2" });
    await holder.query("BEGIN");
    await holder.query("SELECT pg_advisory_xact_lock_shared($1::int, 0)", [ADVISORY_LOCKS.judgementInputs]);
    try {
      const out = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok" });
      expect(out.status).toBe("signed");
    } finally {
      await holder.query("COMMIT");
    }
  });
});

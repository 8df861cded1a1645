import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db, disconnectDb } from "../../db";
import { AuditDetailError, appendAuditEvent, recordAuditEvent } from "./append-audit-event";
import { verifyAuditChain } from "./verify-audit-chain";
import { foldStagedAuditEvents } from "./fold-staged-audit-events";
import { listAuditEvents } from "./list-audit-events";
import { stageAuditEvent } from "./stage-audit-event";

const actor = { kind: "system" as const, label: "audit-test" };
let sql: pg.Client;

beforeAll(async () => {
  sql = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await sql.connect();
});
afterAll(async () => {
  await sql.end();
  await disconnectDb();
});

describe("audit trail", () => {
  it("appends gap-free, hash-chained rows, also under concurrency", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        recordAuditEvent({ actor, action: "audit.export", detail: { format: `csv-${i}`, filter: { to: "2026-12-02", from: "2026-12-01", actor: "x" } } }),
      ),
    );
    const rows = await db.auditEvent.findMany({ orderBy: { seq: "asc" }, select: { seq: true } });
    rows.forEach((r, i) => expect(r.seq).toBe(BigInt(i + 1)));
    const check = await verifyAuditChain();
    expect(check.ok).toBe(true);
  });

  it("folds staged events into the chain exactly once, and a read racing a fold still sees them all", async () => {
    const admin = {
      kind: "user" as const,
      id: "00000000-0000-4000-8000-00000000aaaa",
      email: "auditor@example.com",
      name: "Auditor",
      role: "admin" as const,
      via: "session" as const,
    };
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        stageAuditEvent({
          actor,
          action: "admission.review",
          outcome: "denied",
          target: "namespace staged",
          detail: { images: [`img-${i}`], allowed: false, reason: null },
        }),
      ),
    );
    expect(await db.auditOutbox.count()).toBe(300);
    // As the audit page does: list and verify at once; both fold first.
    const [listed, check, folded] = await Promise.all([
      listAuditEvents({ actor: admin, limit: 500, filter: { action: { kind: "exact", value: "admission.review" } } }),
      verifyAuditChain(),
      foldStagedAuditEvents(),
    ]);
    expect(listed.events).toHaveLength(300);
    expect(check.ok).toBe(true);
    expect(folded).toBeLessThanOrEqual(300);
    expect(await db.auditOutbox.count()).toBe(0);
    expect(await db.auditEvent.count({ where: { action: "admission.review" } })).toBe(300);
    expect(new Set(listed.events.map((e) => (e.detail as { images: string[] }).images[0])).size).toBe(300);
  });

  it("rolls an event back with the change it describes", async () => {
    const before = await db.auditEvent.count();
    await expect(
      db.$transaction(async (tx) => {
        await appendAuditEvent(tx, { actor, action: "user.enable", target: "rollback@example.com" });
        throw new Error("change failed");
      }),
    ).rejects.toThrow("change failed");
    expect(await db.auditEvent.count()).toBe(before);
  });

  it("refuses a detail that does not fit its kind (a writer bug) before anything is stored, in every writer", async () => {
    const events = await db.auditEvent.count();
    const staged = await db.auditOutbox.count();
    // Shapes tsc would refuse, as a spread or an untyped value could still bring them at run time.
    const spread = { revokedTokens: 1, ...({ extra: "from a spread" } as object) };
    await expect(recordAuditEvent({ actor, action: "user.disable", detail: spread as { revokedTokens: number } })).rejects.toThrow(AuditDetailError);
    await expect(recordAuditEvent({ actor, action: "user.disable", detail: { revokedTokens: "1" as unknown as number } })).rejects.toThrow(
      /user\.disable.*revokedTokens/,
    );
    await expect(stageAuditEvent({ actor, action: "admission.review", detail: { images: [], allowed: true } as never })).rejects.toThrow(
      /admission\.review.*reason/,
    );
    await expect(recordAuditEvent({ actor, action: "test.unknown" as never, detail: {} as never })).rejects.toThrow(/unknown audit event kind "test\.unknown"/);
    await expect(
      db.$transaction(async (tx) => {
        await appendAuditEvent(tx, { actor, action: "user.enable", target: "first@example.com" });
        await appendAuditEvent(tx, { actor, action: "user.role", target: "first@example.com", detail: { from: "developer" } as never });
      }),
    ).rejects.toThrow(AuditDetailError);
    expect({ events: await db.auditEvent.count(), staged: await db.auditOutbox.count() }).toEqual({ events, staged });
    // A detail that fits still goes in.
    await recordAuditEvent({ actor, action: "waiver.revoke", detail: { waiverId: "w1", stage: "prod", gate: "vulnerabilities", reason: null } });
    expect(await db.auditEvent.count()).toBe(events + 1);
  });

  it("stores a hostile lone surrogate (in a target or a detail string) as U+FFFD, chained and verifiable, in every writer", async () => {
    const before = await db.auditEvent.count();
    const reason = "bad name \ud800 from a header";
    await recordAuditEvent({ actor, action: "waiver.revoke", target: "image \udc00", detail: { waiverId: "w\ud800", stage: "prod", gate: "sbom", reason } });
    await stageAuditEvent({ actor, action: "request.denied", outcome: "denied", target: "GET /x\ud800", detail: { status: 403, reason } });
    // An actor label from outside (an identity provider's claim for a refused sign-in), with a lone surrogate and a NUL.
    const claimed = { kind: "anonymous" as const, label: "oidc:evil\ud800@example.com\u0000" };
    await stageAuditEvent({ actor: claimed, action: "request.denied", outcome: "denied", target: "POST /sign-in\u0000", detail: { status: 403, reason } });
    await foldStagedAuditEvents();
    const rows = await db.auditEvent.findMany({ where: { seq: { gt: BigInt(before) } }, orderBy: { seq: "asc" } });
    expect(rows.map((r) => r.target)).toEqual(["image \ufffd", "GET /x\ufffd", "POST /sign-in\ufffd"]);
    expect(rows[2]!.actorLabel).toBe("oidc:evil\ufffd@example.com\ufffd");
    expect(rows.map((r) => (r.detail as { reason: string }).reason)).toEqual(Array(3).fill("bad name \ufffd from a header"));
    expect((await verifyAuditChain()).ok).toBe(true);
  });

  it("refuses UPDATE, DELETE and TRUNCATE", async () => {
    await expect(sql.query(`UPDATE audit_events SET action = 'x' WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`DELETE FROM audit_events WHERE seq = 1`)).rejects.toThrow(/append-only/);
    await expect(sql.query(`TRUNCATE audit_events`)).rejects.toThrow(/append-only/);
  });

  it("detects a row changed directly in SQL with the trigger disabled, naming the row", async () => {
    const target = await db.auditEvent.findFirstOrThrow({ where: { action: "audit.export" }, orderBy: { seq: "desc" } });
    const original = target.detail;
    await sql.query(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
    try {
      await sql.query(`UPDATE audit_events SET detail = '{"i": 999}' WHERE seq = $1`, [target.seq.toString()]);
      const broken = await verifyAuditChain();
      expect(broken.ok).toBe(false);
      if (!broken.ok) {
        expect(broken.brokenSeq).toBe(target.seq);
        expect(broken.reason).toMatch(/altered/);
      }
      // Restore so the other test files see an intact chain.
      await sql.query(`UPDATE audit_events SET detail = $1 WHERE seq = $2`, [JSON.stringify(original), target.seq.toString()]);
    } finally {
      await sql.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
    }
    expect((await verifyAuditChain()).ok).toBe(true);
  });
});

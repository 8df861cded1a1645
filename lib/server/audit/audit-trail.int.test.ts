import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GET as listRoute } from "../../../app/api/v1/audit/route";
import { GET as exportRoute } from "../../../app/api/v1/audit/export/route";
import { auditRowHash } from "../../audit-chain";
import { db, disconnectDb } from "../../db";
import type { Actor } from "../actor";
import { createToken } from "../tokens/create-token";
import { createUser } from "../users/create-user";
import { recordAuditEvent } from "./append-audit-event";

const cli: Actor = { kind: "cli", label: "audit-trail-test" };
const REQ = "7d0a0c1e-4d39-4a3c-9a34-6e1f3b2c1d00";
const DIGEST = `sha256:${"ab".repeat(32)}`;
let managerToken = "";
let devToken = "";

async function call(route: typeof listRoute, path: string, token = managerToken) {
  const req = new NextRequest(new URL(path, "http://localhost"), { headers: { authorization: `Bearer ${token}` } });
  return route(req, { params: Promise.resolve({}) } as never);
}
async function events(qs: string) {
  const res = await call(listRoute, `/api/v1/audit?${qs}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { events: { seq: string; action: string; actor: string; detail: Record<string, unknown> }[]; next: string | null };
}
async function error(route: typeof listRoute, path: string) {
  const res = await call(route, path);
  return { status: res.status, body: (await res.json()) as { error: { code: string; field?: string; message: string } } };
}

beforeAll(async () => {
  await createUser({ actor: cli, email: "mgr@example.com", role: "manager", password: "manager-pass-123" });
  await createUser({ actor: cli, email: "dev@example.com", role: "developer", password: "developer-pass-123" });
  managerToken = (await createToken({ actor: cli, email: "mgr@example.com" })).token;
  devToken = (await createToken({ actor: cli, email: "dev@example.com" })).token;
  const alice: Actor = {
    kind: "user",
    id: "00000000-0000-4000-8000-0000000000a1",
    email: "alice@example.com",
    name: "Alice",
    role: "reviewer",
    via: "session",
  };
  await recordAuditEvent({
    actor: cli,
    action: "request.create",
    targetDigest: DIGEST,
    target: "reg/apps/payments-api",
    detail: { requestId: REQ, stage: "prod", note: null },
  });
  await recordAuditEvent({
    actor: alice,
    action: "review.approve",
    targetDigest: DIGEST,
    target: "reg/apps/payments-api",
    detail: { requestId: REQ, stage: "prod", comment: null, approvals: 1, required: 2, waiverIds: [] },
  });
  await recordAuditEvent({
    actor: alice,
    action: "review.break-glass",
    targetDigest: DIGEST,
    target: "reg/apps/other",
    detail: {
      requestId: "11111111-2222-4333-8444-555555555555",
      stage: "staging",
      comment: "no",
      approvals: 1,
      required: 1,
      waiverIds: [],
      overridden: ["scan is 40 days old"],
    },
  });
  await recordAuditEvent({
    actor: cli,
    action: "registry.create",
    target: "reg",
    detail: { url: "http://reg", readCredentials: false, pushCredentials: false, repositories: 0 },
  });
  await recordAuditEvent({
    actor: { kind: "anonymous", label: '=HYPERLINK("http://evil")' },
    action: "auth.signin",
    outcome: "failure",
    detail: { method: "password", reason: "password sign-in is turned off" },
  });
  await recordAuditEvent({
    actor: cli,
    action: "registry.create",
    target: "reg2",
    detail: { url: "http://reg2", readCredentials: false, pushCredentials: false, repositories: 0 },
  });
});
afterAll(async () => {
  await disconnectDb();
});

describe("GET /api/v1/audit filters", () => {
  it("filters by actor, action family, exact kind, outcome and each target kind", async () => {
    expect((await events("actor=alice%40example.com")).events.map((e) => e.action)).toEqual(["review.break-glass", "review.approve"]);
    expect((await events("action=review")).events.map((e) => e.action)).toEqual(["review.break-glass", "review.approve"]);
    expect((await events("action=review.approve")).events.map((e) => e.action)).toEqual(["review.approve"]);
    expect((await events("outcome=failure")).events.map((e) => e.action)).toEqual(["auth.signin"]);
    expect((await events(`target=request:${REQ}`)).events.map((e) => e.action)).toEqual(["review.approve", "request.create"]);
    expect((await events("target=stage:staging")).events.map((e) => e.action)).toEqual(["review.break-glass"]);
    expect((await events(`target=${DIGEST}`)).events).toHaveLength(3);
    expect((await events("target=repository:reg/apps/payments-api")).events).toHaveLength(2);
    // "reg" matches its own events and its images, not registry "reg2".
    expect((await events("target=registry:reg")).events.map((e) => e.action)).toEqual([
      "registry.create",
      "review.break-glass",
      "review.approve",
      "request.create",
    ]);
    const now = new Date();
    expect((await events(`from=${new Date(now.getTime() + 3_600_000).toISOString()}`)).events).toHaveLength(0);
    expect((await events(`to=${new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10)}`)).events).toHaveLength(0);
  });

  it("pages with a cursor without overlap or gaps", async () => {
    const all = (await events("limit=500")).events.map((e) => e.seq);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await events(`limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.events.map((e) => e.seq));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(all);
  });

  it("answers a malformed filter with 422 naming the field", async () => {
    const cases: [string, string][] = [
      ["action=review.nonsense", "action"],
      ["from=yesterday", "from"],
      ["to=2026-13-45", "to"],
      ["from=2026-02-01&to=2026-01-01", "to"],
      ["outcome=maybe", "outcome"],
      ["cursor=abc", "cursor"],
      ["limit=0", "limit"],
      ["limit=501", "limit"],
      ["target=request:not-a-uuid", "target"],
      ["target=digest:sha256:123", "target"],
      ["actor=a%00b", "actor"],
      ["bogus=1", "bogus"],
      ["format=csv", "format"],
    ];
    for (const [qs, field] of cases) {
      const r = await error(listRoute, `/api/v1/audit?${qs}`);
      expect({ qs, status: r.status, code: r.body.error.code, field: r.body.error.field }).toEqual({ qs, status: 422, code: "INVALID_INPUT", field });
    }
  });

  it("refuses a developer", async () => {
    expect((await call(listRoute, "/api/v1/audit", devToken)).status).toBe(403);
    expect((await call(exportRoute, "/api/v1/audit/export?from=2026-01-01", devToken)).status).toBe(403);
  });
});

describe("GET /api/v1/audit/export", () => {
  const from = new Date(Date.now() - 86_400_000).toISOString();

  it("streams NDJSON, oldest first, whose rows rehash to the stored chain", async () => {
    const res = await call(exportRoute, `/api/v1/audit/export?format=ndjson&from=${encodeURIComponent(from)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const stored = await db.auditEvent.findMany({ orderBy: { seq: "asc" }, where: { seq: { lte: BigInt(lines[lines.length - 1].seq) } } });
    expect(lines.map((l) => l.seq)).toEqual(stored.map((r) => r.seq.toString()));
    for (const l of lines) {
      const recomputed = auditRowHash({ ...l, seq: BigInt(l.seq), at: new Date(l.at) });
      expect(recomputed).toBe(l.hash);
    }
    for (let i = 1; i < lines.length; i++) expect(lines[i].prevHash).toBe(lines[i - 1].hash);
    expect(lines.find((l) => l.action === "review.approve").sentence).toBe(
      "alice@example.com approved apps/payments-api@sha256:abababababab… for prod (1 of 2) (request 7d0a0c1e)",
    );
  });

  it("streams filtered CSV with hashes and defuses formula cells", async () => {
    const res = await call(exportRoute, `/api/v1/audit/export?format=csv&action=auth&from=${encodeURIComponent(from)}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const [header, ...rows] = text.trim().split("\n");
    expect(header).toBe("seq,at,actor_type,actor_id,actor,action,outcome,target,target_digest,detail,prev_hash,hash,sentence");
    expect(rows).toHaveLength(1);
    const stored = await db.auditEvent.findFirstOrThrow({ where: { action: "auth.signin" } });
    expect(rows[0]).toContain(`,${stored.hash},`);
    expect(rows[0]).toContain(`"'=HYPERLINK(""http://evil"")"`);
    // The export itself is audited.
    expect(await db.auditEvent.count({ where: { action: "audit.export" } })).toBeGreaterThanOrEqual(2);
  });

  it("streams in batches: a table larger than one batch comes out whole", async () => {
    const { exportAuditEvents } = await import("./export-audit-events");
    const now = new Date();
    const out = await exportAuditEvents({ actor: cli, filter: { from: new Date(from) }, format: "ndjson", batch: 2, now });
    const seqs = (await new Response(out.stream).text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).seq);
    // Up to `now`: the export's own audit event, written just after, is not in it.
    const stored = await db.auditEvent.findMany({ where: { at: { lt: now } }, orderBy: { seq: "asc" }, select: { seq: true } });
    expect(seqs.length).toBeGreaterThan(4);
    expect(seqs).toEqual(stored.map((r) => r.seq.toString()));
  });

  it("answers a bad export with 422 naming the field", async () => {
    const cases: [string, string][] = [
      ["format=xml&from=2026-01-01", "format"],
      ["format=csv", "from"],
      ["format=csv&from=2024-01-01&to=2026-01-01", "to"],
      ["format=csv&from=2026-01-01&cursor=5", "cursor"],
      ["format=csv&from=2026-01-01&action=nope", "action"],
    ];
    for (const [qs, field] of cases) {
      const r = await error(exportRoute, `/api/v1/audit/export?${qs}`);
      expect({ qs, status: r.status, field: r.body.error.field }).toEqual({ qs, status: 422, field });
    }
  });
});

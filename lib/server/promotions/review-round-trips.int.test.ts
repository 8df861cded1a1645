import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { RegistryTransport } from "../../oci/transport/transport";
import type { Actor } from "../actor";
import { verifyAuditChain } from "../audit/verify-audit-chain";
import { upsertGroup } from "../groups/upsert-group";
import { upsertStage } from "../stages/upsert-stage";
import { getRequest } from "./get-request";
import { reviewRequest } from "./review-request";

// What the review route's answer costs in round trips (issue 17): SQL statements sent to Postgres and requests sent to
// the registry, for the approving review that signs (as POST /api/v1/requests/{id}/reviews runs it: reviewRequest with
// its accessories deferred, then the request record). Counts, not timings: they do not depend on the machine's load.
// The bounds hold the reductions in place; the test prints each statement so a regression is easy to find.

const system: Actor = { kind: "system", label: "round-trips-test" };
const REPO = "roundtrips/app";
const STAGE = "rt-build";
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages([STAGE]);
  await upsertGroup({ actor: system, name: "rt-security", members: ["carol@example.com"] });
  await upsertStage({ actor: system, name: STAGE, settings: { requiredApprovals: 1, reviewerGroups: ["rt-security"], gates: {} } });
});

afterAll(async () => {
  await disconnectDb();
});

const requested = (label: string) => pushedAndRequested({ client, repository: REPO, stage: STAGE, label });

/** Counts what `fn` sends: every pg query (Prisma's adapter and the pool alike) and every registry HTTP request. */
async function counting<T>(fn: () => Promise<T>): Promise<{ result: T; sql: string[]; http: string[] }> {
  const sql: string[] = [];
  const http: string[] = [];
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  type Once = (url: string, init: { method?: string }) => Promise<unknown>;
  // Writes go through fetch (once), reads through undici's dispatcher API (onceDispatched): both are counted.
  const tproto = RegistryTransport.prototype as unknown as { once: Once; onceDispatched: Once };
  const query = proto.query;
  const once = tproto.once;
  const onceDispatched = tproto.onceDispatched;
  proto.query = function (this: unknown, ...a: unknown[]) {
    const q = a[0];
    const text = typeof q === "string" ? q : ((q as { text?: string })?.text ?? String(q));
    sql.push(text.replace(/\s+/g, " ").slice(0, 140));
    return query.apply(this, a);
  };
  tproto.once = function (this: unknown, url: string, init: { method?: string }) {
    http.push(`${init.method ?? "GET"} ${new URL(url).pathname}`);
    return once.call(this, url, init);
  };
  tproto.onceDispatched = function (this: unknown, url: string, init: { method?: string }) {
    http.push(`${init.method ?? "GET"} ${new URL(url).pathname}`);
    return onceDispatched.call(this, url, init);
  };
  try {
    const result = await fn();
    return { result, sql, http };
  } finally {
    proto.query = query;
    tproto.once = once;
    tproto.onceDispatched = onceDispatched;
  }
}

describe("round trips of the approving review that signs", () => {
  it("answers signed, with the request record, in a bounded number of SQL statements and registry requests", async () => {
    const carol = await userActor("carol@example.com");
    // A first one warms what a running server has warm (modules, the trust material, the connection pool).
    const warm = await requested("rt-warm");
    await reviewRequest({ actor: carol, requestId: warm.requestId, decision: "approve", comment: "ok", later: () => {} });

    const { requestId, digest } = await requested("rt-1");
    const { result, sql, http } = await counting(async () => {
      const outcome = await reviewRequest({ actor: carol, requestId, decision: "approve", comment: "ok", later: () => {} });
      return { outcome, record: await getRequest({ actor: carol, requestId }) };
    });
    console.log(`${sql.length} SQL statements:\n  ${sql.join("\n  ")}\n${http.length} registry requests:\n  ${http.join("\n  ")}`);
    expect(result.outcome.status).toBe("signed");
    expect(result.record.status).toBe("signed");
    expect(result.record.signature?.status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { requestId } });
    const sig = await db.signature.findFirstOrThrow({ where: { imageId: approval.imageId, layerDigest: approval.layerDigest } });
    expect(sig.verdict).toBe("verified");
    // The review, the key use and the approval: chained in this order, in one INSERT, with the push's event after them.
    const review = await db.auditEvent.findFirstOrThrow({ where: { action: "review.approve", targetDigest: digest } });
    const chain = await db.auditEvent.findMany({ where: { seq: { gte: review.seq, lte: review.seq + 2n } }, orderBy: { seq: "asc" } });
    expect(chain.map((e) => e.action)).toEqual(["review.approve", "key.use", "approval.create"]);
    expect((chain[2]!.detail as { approvalId?: string }).approvalId).toBe(approval.id);
    expect(await db.auditEvent.count({ where: { action: "signature.push", targetDigest: digest } })).toBe(1);
    expect((await verifyAuditChain()).ok).toBe(true);
    // Before issue 17's round-trip work: 73 statements (some of them the webhook worker's, kicked after the commit) and
    // 12 registry requests; 38 and 9 after. The registry requests: GET the tag (404), HEAD + POST + PUT for the payload
    // and the config blobs, PUT the manifest, read it back (its layers, not its config; the refresh reuses it).
    expect(sql.length).toBeLessThanOrEqual(46);
    expect(http).toHaveLength(9);
  });
});

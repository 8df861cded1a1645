import { NextRequest } from "next/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GET as reportRoute } from "../../../app/api/v1/reports/[name]/route";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Cell, ReportName, ReportTable } from "../../report-format";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { withdrawRequest } from "../promotions/withdraw-request";
import { upsertStage } from "../stages/upsert-stage";
import { createToken } from "../tokens/create-token";
import { grantWaiver } from "../waivers/grant-waiver";
import { revokeWaiver } from "../waivers/revoke-waiver";
import { getReport } from "./get-report";

const system: Actor = { kind: "system", label: "reports-test" };
const HOUR = 3_600_000;
let client: RegistryClient;
let managerToken = "";
let devToken = "";
let n = 0;
const from = new Date(Date.now() - 3 * 86_400_000);
const to = new Date(Date.now() + 60_000);

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { digest: img.digest, imageId: row.id };
}

/** Requests a promotion, has it approved, then moves the request's creation back so the lead time is `hours`. */
async function approvedWithLead(repo: string, stage: string, reviewer: string, hours: number) {
  const img = await newImage(repo);
  const dev = await userActor("dev@example.com");
  const req = await requestPromotion({ actor: dev, registry: "default", repository: repo, digest: img.digest, stage, note: "release" });
  const r = await reviewRequest({ actor: await userActor(reviewer), requestId: req.id, decision: "approve", comment: "ok" });
  expect(r.status).toBe("signed");
  const a = await db.approval.findUniqueOrThrow({ where: { requestId: req.id } });
  await db.promotionRequest.update({ where: { id: req.id }, data: { createdAt: new Date(a.createdAt.getTime() - hours * HOUR) } });
  return { ...img, approvalId: a.id };
}

function records(t: ReportTable): Record<string, Cell>[] {
  return t.rows.map((r) => Object.fromEntries(t.columns.map((c, i) => [c, r[i]!])));
}
async function report(name: ReportName) {
  return records(await getReport({ actor: await userActor("manager@example.com"), name, period: { from, to } }));
}
const mine = (rows: Record<string, Cell>[]) => rows.filter((r) => r.team === "rpt" || r.team === "rptx");

async function call(path: string, token = managerToken) {
  const url = new URL(path, "http://localhost");
  const name = decodeURIComponent(url.pathname.split("/").pop()!);
  const req = new NextRequest(url, { headers: { authorization: `Bearer ${token}` } });
  return reportRoute(req, { params: Promise.resolve({ name }) } as never);
}

let A: Awaited<ReturnType<typeof approvedWithLead>>;
let B: Awaited<ReturnType<typeof approvedWithLead>>;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
  await upsertGroup({ actor: system, name: "security-leads", members: ["carol@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], waiverGroup: "security-leads", gates: {}, approvalTtlDays: 2 },
  });
  await upsertStage({
    actor: system,
    name: "prod",
    settings: { requiredApprovals: 2, reviewerGroups: ["security"], waiverGroup: "security-leads", gates: {} },
  });
  managerToken = (await createToken({ actor: system, email: "manager@example.com" })).token;
  devToken = (await createToken({ actor: system, email: "dev@example.com" })).token;

  const dev = await userActor("dev@example.com");
  const alice = await userActor("alice@example.com");
  const carol = await userActor("carol@example.com");
  const admin = await userActor("admin@example.com");
  // Three stage signatures in test for team rpt, after 2 h, 4 h and 10 h.
  A = await approvedWithLead("rpt/api", "test", "alice@example.com", 2);
  B = await approvedWithLead("rpt/web", "test", "alice@example.com", 4);
  await approvedWithLead("rpt/api", "test", "bob@example.com", 10);
  // A rejection in prod, a withdrawal in test.
  const d = await newImage("rpt/api");
  const rq = await requestPromotion({ actor: dev, registry: "default", repository: "rpt/api", digest: d.digest, stage: "prod", note: "go" });
  await reviewRequest({ actor: alice, requestId: rq.id, decision: "reject", comment: '=HYPERLINK("http://evil") not yet' });
  const e = await newImage("rpt/web");
  const wq = await requestPromotion({ actor: dev, registry: "default", repository: "rpt/web", digest: e.digest, stage: "test", note: "oops" });
  await withdrawRequest({ actor: dev, requestId: wq.id, reason: "wrong tag" });
  // A break-glass approval by an admin, for team rptx.
  const f = await newImage("rptx/tool");
  const gq = await requestPromotion({ actor: admin, registry: "default", repository: "rptx/tool", digest: f.digest, stage: "test", note: "hotfix" });
  await reviewRequest({
    actor: admin,
    requestId: gq.id,
    decision: "approve",
    comment: "incident 4711: prod down, security on call unreachable",
    breakGlass: true,
  });

  // Waivers for test / rpt: one ending in 7 days, one in 30, one revoked.
  await grantWaiver({
    actor: carol,
    registry: "default",
    stage: "test",
    gate: "sbom",
    repository: "rpt/api",
    reason: "SBOM tooling next sprint",
    expiresAt: new Date(Date.now() + 7 * 86_400_000),
  });
  await grantWaiver({
    actor: carol,
    registry: "default",
    stage: "test",
    gate: "findings",
    vulnIds: ["CVE-2019-1549"],
    repository: "rpt/web",
    reason: "not reachable",
    expiresAt: new Date(Date.now() + 30 * 86_400_000),
  });
  const w3 = await grantWaiver({
    actor: carol,
    registry: "default",
    stage: "test",
    gate: "sbom",
    repository: "rpt/web",
    reason: "temporary",
    expiresAt: new Date(Date.now() + 30 * 86_400_000),
  });
  await revokeWaiver({ actor: carol, waiverId: w3.id, reason: "SBOM arrived" });

  // Image A: a scan with one critical and one high finding (and a VEX-style not_affected critical that must not count).
  const { configDigest } = await db.image.findUniqueOrThrow({ where: { id: A.imageId } });
  const scan = {
    SchemaVersion: 2,
    ArtifactName: "rpt/api",
    ArtifactType: "container_image",
    Metadata: { ImageID: configDigest, OS: { Family: "alpine", Name: "3.19.0" } },
    Results: [
      {
        Target: "rpt/api (alpine 3.19.0)",
        Class: "os-pkgs",
        Type: "alpine",
        Vulnerabilities: [
          { VulnerabilityID: "CVE-2099-0001", PkgName: "openssl", InstalledVersion: "3.0.0-r0", FixedVersion: "3.0.1-r0", Severity: "CRITICAL", Title: "bad" },
          { VulnerabilityID: "CVE-2099-0002", PkgName: "musl", InstalledVersion: "1.2.4-r0", FixedVersion: "1.2.4-r1", Severity: "HIGH", Title: "worse" },
        ],
      },
    ],
  };
  await ingestEvidence({ actor: dev, imageId: A.imageId, bytes: Buffer.from(JSON.stringify(scan)), source: "upload" });
  // Image A's approval was timestamped three days ago: past the stage's 2-day TTL. Image B's gates no longer hold.
  await db.approval.update({ where: { id: A.approvalId }, data: { timestampAt: new Date(Date.now() - 3 * 86_400_000) } });
  await db.stageRisk.create({
    data: {
      imageId: B.imageId,
      stageId: (await db.stage.findUniqueOrThrow({ where: { name: "test" } })).id,
      approvalId: B.approvalId,
      reasons: ["critical findings 1 > 0 allowed"],
    },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("report figures from real requests, reviews and waivers", () => {
  it("counts approvals, rejections, withdrawals and break-glass per stage and team", async () => {
    expect(mine(await report("approvals"))).toEqual([
      { stage: "test", team: "rpt", requested: 4, approved: 3, rejected: 0, withdrawn: 1, break_glass: 0 },
      { stage: "test", team: "rptx", requested: 1, approved: 1, rejected: 0, withdrawn: 0, break_glass: 1 },
      { stage: "prod", team: "rpt", requested: 1, approved: 0, rejected: 1, withdrawn: 0, break_glass: 0 },
    ]);
  });

  it("computes the median and p90 lead time from request to signature in Postgres", async () => {
    const rows = mine(await report("lead-time")).filter((r) => r.team === "rpt");
    // 2, 4 and 10 hours: median 4, p90 = 4 + 0.8 × (10 − 4) = 8.8 (linear interpolation, percentile_cont).
    expect(rows).toEqual([{ stage: "test", team: "rpt", signatures: 3, median_hours: 4, p90_hours: 8.8, max_hours: 10 }]);
  });

  it("counts reviews per reviewer and stage", async () => {
    const rows = await report("reviewers");
    expect(rows).toEqual(
      expect.arrayContaining([
        { reviewer: "Alice Reviewer", email: "alice@example.com", stage: "test", approvals: 2, rejections: 0, break_glass: 0 },
        { reviewer: "Alice Reviewer", email: "alice@example.com", stage: "prod", approvals: 0, rejections: 1, break_glass: 0 },
        { reviewer: "Bob Reviewer", email: "bob@example.com", stage: "test", approvals: 1, rejections: 0, break_glass: 0 },
        { reviewer: "Ada Admin", email: "admin@example.com", stage: "test", approvals: 1, rejections: 0, break_glass: 1 },
      ]),
    );
    expect(rows).toHaveLength(4);
  });

  it("lists waivers in force, expiring within 14 days, granted and revoked", async () => {
    expect(mine(await report("waivers"))).toEqual([{ stage: "test", team: "rpt", in_force: 2, expiring_soon: 1, granted: 3, revoked: 1 }]);
  });

  it("lists break-glass uses with the admin and the reason", async () => {
    const rows = await report("break-glass");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      admin: "admin@example.com",
      stage: "test",
      team: "rptx",
      repository: "rptx/tool",
      comment: expect.stringContaining("incident 4711"),
    });
  });

  it("counts images in each stage by risk: findings, at risk, expired, unsigned", async () => {
    const rows = mine(await report("risk"));
    const test = rows.find((r) => r.stage === "test" && r.team === "rpt");
    // A: critical + high + expired; B: at risk; the third: clean. All three carry their stage signature (committed).
    expect(test).toMatchObject({ images: 3, critical: 1, high: 1, at_risk: 1, expired: 1, signature_pending: 0 });
    const inventory = rows.find((r) => r.stage === "(inventory)" && r.team === "rpt");
    // Five images pushed under rpt/: three approved in test, one rejected, one withdrawn.
    expect(inventory).toMatchObject({ images: 5, critical: 1, high: 1, at_risk: 0, expired: 0 });
    expect(Number(inventory!.unsigned) + Number(inventory!.unverified)).toBeGreaterThanOrEqual(2);
    expect(rows.map((r) => r.stage)).not.toContain("prod");
  });

  it("a period before any activity reports nothing", async () => {
    const t = await getReport({
      actor: await userActor("manager@example.com"),
      name: "approvals",
      period: { from: new Date("2020-01-01T00:00:00Z"), to: new Date("2020-02-01T00:00:00Z") },
    });
    expect(t.rows).toEqual([]);
  });
});

describe("GET /api/v1/reports/{name}", () => {
  it("answers CSV with a header row, RFC 4180 quoting and formula cells neutralised", async () => {
    const res = await call(`/api/v1/reports/reviewers?format=csv&from=${from.toISOString()}&to=${encodeURIComponent(to.toISOString())}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/csv");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="imprimatur-reviewers-\d{4}-\d{2}-\d{2}_\d{4}-\d{2}-\d{2}\.csv"$/);
    const text = await res.text();
    const lines = text.split("\r\n");
    expect(lines[0]).toBe("reviewer,email,stage,approvals,rejections,break_glass");
    expect(lines).toContain("Alice Reviewer,alice@example.com,prod,0,1,0");
    const bg = await (await call(`/api/v1/reports/break-glass?format=csv&from=${from.toISOString()}`)).text();
    expect(bg.split("\r\n")[0]).toBe("at,admin,stage,team,repository,digest,comment");
    // The comment holds a comma: quoted as one cell.
    expect(bg).toMatch(/,"incident 4711: prod down, security on call unreachable"\r\n$/);
  });

  it("answers JSON with the period and the rows", async () => {
    const res = await call(`/api/v1/reports/waivers?from=${from.toISOString().slice(0, 10)}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as ReportTable;
    expect(body).toMatchObject({
      name: "waivers",
      from: `${from.toISOString().slice(0, 10)}T00:00:00.000Z`,
      columns: ["stage", "team", "in_force", "expiring_soon", "granted", "revoked"],
    });
    expect(body.rows).toContainEqual(["test", "rpt", 2, 1, 3, 1]);
  });

  it("answers 422 naming the field for a bad name, format, from, to, an inverted or too long period", async () => {
    const cases: [string, string][] = [
      ["/api/v1/reports/nonsense", "name"],
      ["/api/v1/reports/approvals?format=xlsx", "format"],
      ["/api/v1/reports/approvals?from=yesterday", "from"],
      ["/api/v1/reports/approvals?from=2026-02-31", "from"],
      ["/api/v1/reports/approvals?to=2026-13-01", "to"],
      ["/api/v1/reports/approvals?from=2026-03-01&to=2026-02-01", "to"],
      ["/api/v1/reports/approvals?from=2024-01-01&to=2026-01-01", "to"],
      ["/api/v1/reports/approvals?stage=prod", "stage"],
    ];
    for (const [path, field] of cases) {
      const res = await call(path);
      expect(res.status, path).toBe(422);
      expect(((await res.json()) as { error: { code: string; field: string } }).error, path).toMatchObject({ code: "INVALID_INPUT", field });
    }
  });

  it("refuses developers with 403", async () => {
    const res = await call("/api/v1/reports/approvals", devToken);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("FORBIDDEN");
  });
});

// A waiver is a reviewer's decision: it counts in gates only while its grantor may still grant it (an enabled account
// in the stage's waiver group, the rule grantWaiver enforces). At review time (gather-gate-facts) and in re-evaluation;
// and disabling the grantor (or taking them out of the waiver group) queues the approvals their waivers covered.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { upsertStage } from "../stages/upsert-stage";
import { updateUser } from "../users/update-user";
import { grantWaiver } from "../waivers/grant-waiver";
import { signInOidc } from "../auth/sign-in-oidc";
import { listWaivers } from "../waivers/list-waivers";

// OSV record for lodash < 4.17.21 (CVE-2021-23337, high).
const ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
const CVE = "CVE-2021-23337";
const system: Actor = { kind: "system", label: "waiver-grantor" };
let client: RegistryClient;
let n = 0;

const sbom = () =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
    }),
  );
const emptyScan = () => Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: `x-${randomUUID()}`, ArtifactType: "container_image", Results: [] }));

/** An image with a clean scan and an SBOM holding lodash 4.17.20 (vulnerable once the advisory is imported). */
async function imageWithEvidence(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  await ingestEvidence({ actor: system, imageId: row.id, bytes: emptyScan(), source: "upload" });
  await ingestEvidence({ actor: system, imageId: row.id, bytes: sbom(), source: "upload" });
  return { imageId: row.id, digest: img.digest as Digest, repo };
}

async function waive(email: string, img: { digest: Digest; repo: string }) {
  return grantWaiver({
    actor: await userActor(email),
    stage: "test",
    gate: "findings",
    vulnIds: [CVE],
    registry: "default",
    repository: img.repo,
    digest: img.digest,
    reason: "not reachable in our services",
    expiresAt: new Date(Date.now() + 30 * 86_400_000),
  });
}

/** bob requests, alice (reviewer group) approves. */
async function requestAndApprove(img: { digest: Digest; repo: string }) {
  const req = await requestPromotion({ actor: await userActor("bob@example.com"), repository: img.repo, digest: img.digest, stage: "test", note: "ship it" });
  return reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "ok" });
}

const admin = () => userActor("admin@example.com");
let demoted: Awaited<ReturnType<typeof imageWithEvidence>>;
let disabled: Awaited<ReturnType<typeof imageWithEvidence>>;
let demotedWaiver: string;
let disabledWaiver: string;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  // carol and manager may grant waivers for stage test.
  await upsertGroup({ actor: system, name: "leads", members: ["carol@example.com", "manager@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      waiverGroup: "leads",
      gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } },
      onRegression: "flag",
      regressionGraceHours: 1,
    },
  });
  demoted = await imageWithEvidence(`grantor/demoted-${randomUUID().slice(0, 8)}`);
  disabled = await imageWithEvidence(`grantor/disabled-${randomUUID().slice(0, 8)}`);
  demotedWaiver = (await waive("manager@example.com", demoted)).id;
  disabledWaiver = (await waive("carol@example.com", disabled)).id;
  // The advisory arrives: both images' findings gate fails but for the waivers.
  await importAdvisories({ actor: system, bytes: ADVISORY, origin: "waiver-grantor" });
  await reevaluateApprovals();
});

afterAll(async () => {
  await disconnectDb();
});

describe("a waiver counts only while its grantor may grant it", () => {
  it("at review time: a waiver whose grantor left the waiver group does not let the gate pass", async () => {
    expect(await db.finding.count({ where: { imageId: demoted.imageId, documentId: null, status: "affected" } })).toBeGreaterThan(0);
    await upsertGroup({ actor: await admin(), name: "leads", members: ["carol@example.com"] });
    const refused = await requestAndApprove(demoted).then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(refused, "a waiver by someone no longer in the waiver group let the findings gate pass").toMatchObject({ code: "POLICY_VIOLATION" });
    expect(refused!.message).toContain("not counted: grantor no longer may grant it");
    expect(refused!.message).toContain("not in waiver group leads");
    const listed = (await listWaivers({ actor: await admin() })).find((w) => w.id === demotedWaiver)!;
    expect(listed.state).toBe("active");
    expect(listed.notCounted).toContain("not in waiver group leads");
  });

  it("in re-evaluation: disabling the grantor queues the approvals their waivers held up, which turn at risk (and back when enabled)", async () => {
    const out = await requestAndApprove(disabled);
    expect(out.status).toBe("signed");
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: disabled.imageId } })).toBe(0);
    expect((await listWaivers({ actor: await admin() })).find((w) => w.id === disabledWaiver)!.notCounted).toBeNull();

    await updateUser({ actor: await admin(), email: "carol@example.com", disabled: true });
    // Queued in the same transaction as the disable, like other triggers.
    expect(await db.reevaluationRequest.count({ where: { imageId: disabled.imageId } })).toBeGreaterThan(0);
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirst({ where: { imageId: disabled.imageId } });
    expect(risk, "an approval that stood only on a disabled grantor's waiver is not flagged at risk").not.toBeNull();
    expect(risk!.reasons.join(" ")).toContain("grantor disabled");
    expect((await listWaivers({ actor: await admin() })).find((w) => w.id === disabledWaiver)!.notCounted).toContain("grantor disabled");

    await updateUser({ actor: await admin(), email: "carol@example.com", disabled: false });
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: disabled.imageId } })).toBe(0);
  });

  it("an OpenID Connect sign-in that takes the grantor out of the waiver group queues the approvals their waivers held up", async () => {
    // The identity provider is the source of truth for an SSO user's groups: leaving the waiver group there takes
    // effect at the next sign-in, which must re-judge the approvals as an admin's edit of the group does.
    const img = await imageWithEvidence(`grantor/oidc-${randomUUID().slice(0, 8)}`);
    const waiverId = (await waive("carol@example.com", img)).id;
    expect((await requestAndApprove(img)).status).toBe("signed");
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);

    const signedIn = await signInOidc({
      issuer: "https://idp.example.com/realms/corp",
      claims: { sub: "carol-idp", email: "carol@example.com", email_verified: true, groups: ["security"] },
      groupsClaim: "groups",
      roleMap: new Map([["security", "reviewer" as const]]),
    });
    expect(signedIn).toMatchObject({ ok: true, created: false });
    expect((await listWaivers({ actor: await admin() })).find((w) => w.id === waiverId)!.notCounted).toContain("not in waiver group leads");
    expect(await db.reevaluationRequest.count({ where: { imageId: img.imageId } }), "the sign-in queued no re-evaluation").toBeGreaterThan(0);
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirst({ where: { imageId: img.imageId } });
    expect(risk, "an approval that stood only on the waiver of a grantor who left the waiver group is not flagged at risk").not.toBeNull();
    expect(risk!.reasons.join(" ")).toContain("not in waiver group leads");
  });

  it("the grantor's standing is joined into the waiver read: gathering the facts costs no extra statement", async () => {
    const stageId = (await db.stage.findFirstOrThrow({ where: { name: "test" }, select: { id: true } })).id;
    const sql: string[] = [];
    const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
    const query = proto.query;
    proto.query = function (this: unknown, ...a: unknown[]) {
      const q = a[0];
      sql.push(typeof q === "string" ? q : ((q as { text?: string })?.text ?? String(q)));
      return query.apply(this, a);
    };
    let facts;
    try {
      facts = await gatherGateFacts(db, { imageId: demoted.imageId, stageId });
    } finally {
      proto.query = query;
    }
    expect([...facts.waivers, ...(facts.discountedWaivers ?? [])].map((w) => w.id)).toEqual([demotedWaiver]);
    console.log(`gatherGateFacts: ${sql.length} SQL statements`);
    // The image, then the independent reads (findings, documents, provenance, decisions, waivers with their grantors'
    // standing, base image (two), provenance uploaders; no platform children for a single image): 9. Before the grantor
    // was joined, the waivers and their grantors' names were two statements (10).
    expect(sql.length, sql.map((q) => q.replace(/\s+/g, " ").slice(0, 120)).join("\n")).toBeLessThanOrEqual(9);
  });
});

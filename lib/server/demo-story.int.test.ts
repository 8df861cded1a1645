import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStory, STORY, STORY_DAYS, type StoryResult } from "../../scripts/demo-story";
import { uninstallSimClock } from "../../scripts/lib/sim-clock";
import { userActor } from "../../scripts/test-harness/promote";
import { db, disconnectDb } from "../db";
import { RegistryClient } from "../oci/client";
import type { Digest } from "../oci/digest";
import { cosignTag } from "../oci/reference";
import { verifyAuditChain } from "./audit/verify-audit-chain";
import { getImage } from "./images/get-image";
import { listImages, parseListImagesQuery } from "./images/list-images";
import { stopBoss } from "./jobs/boss";
import { listRequests } from "./promotions/list-requests";

// `npm run demo`'s story, run against this file's own Postgres and the test registry: what a reviewer clicks through
// must be there, made by the actions (signatures in the registry, audit chain intact, history spread over weeks).

const DAY = 86_400_000;
const client = () => new RegistryClient({ url: process.env.REGISTRY_URL! });
let story: StoryResult;
const log: string[] = [];

async function digestOf(r: { repository: string; tag: string }) {
  return (await db.tag.findFirstOrThrow({ where: { name: r.tag, repository: { name: r.repository } } })).digest as Digest;
}

/** The stage names whose signature layers are in the image's `.sig` manifest in the registry. */
async function stageLayersInRegistry(repository: string, digest: Digest): Promise<string[]> {
  const c = client();
  const head = await c.headManifest(repository, cosignTag(digest, "sig"));
  if (!head) return [];
  const m = JSON.parse((await c.getManifest(repository, cosignTag(digest, "sig"))).bytes.toString("utf8")) as { layers: { digest: string }[] };
  const approvals = await db.approval.findMany({ where: { layerDigest: { in: m.layers.map((l) => l.digest) } }, include: { stage: true } });
  return approvals.map((a) => a.stage.name).sort();
}

beforeAll(async () => {
  const before = Date.now();
  story = await seedStory((s) => log.push(s));
  // The clock is the seed process's; this test process goes back to real time for its assertions.
  uninstallSimClock();
  expect(Date.now()).toBeGreaterThanOrEqual(before);
}, 300_000);

afterAll(async () => {
  uninstallSimClock();
  await stopBoss().catch(() => {});
  await disconnectDb();
});

describe("the demo story", () => {
  it("starts weeks ago on a fresh database and spreads the audit trail over them, with the chain intact", async () => {
    expect(story.told).toBe(true);
    expect(Date.now() - story.start!.getTime()).toBeGreaterThan((STORY_DAYS - 1) * DAY);
    const events = await db.auditEvent.findMany({ orderBy: { seq: "asc" }, select: { at: true, action: true } });
    // In seq order the times never go backwards, and they cover more than three weeks.
    for (let i = 1; i < events.length; i++) expect(events[i]!.at.getTime()).toBeGreaterThanOrEqual(events[i - 1]!.at.getTime());
    expect(events.at(-1)!.at.getTime() - events[0]!.at.getTime()).toBeGreaterThan(21 * DAY);
    const days = new Set(events.map((e) => e.at.toISOString().slice(0, 10)));
    expect(days.size).toBeGreaterThanOrEqual(10);
    const check = await verifyAuditChain();
    expect(check.ok).toBe(true);
    expect(check.checked).toBe(events.length);
    // Requests carry their own (past) times too, not the time the seed ran.
    const first = await db.promotionRequest.findFirstOrThrow({ orderBy: { createdAt: "asc" } });
    expect(Date.now() - first.createdAt.getTime()).toBeGreaterThan(20 * DAY);
  });

  it("leaves one image at each stage, each with its stage signatures in the registry", async () => {
    const admin = await userActor("admin@example.com");
    for (const [ref, stage] of Object.entries(STORY.currentStage)) {
      const [repository, tag] = ref.split(":") as [string, string];
      const digest = await digestOf({ repository, tag });
      const page = await getImage({ actor: admin, repository, digest });
      expect(page.currentStage, ref).toBe(stage);
      const expected = { build: ["build"], test: ["build", "test"], prod: ["build", "prod", "test"] }[stage]!;
      expect(await stageLayersInRegistry(repository, digest), ref).toEqual(expected);
    }
    const list = await listImages({ actor: admin, query: parseListImagesQuery({}) });
    const byStage = new Map<string, number>();
    for (const item of list.items) if (item.currentStage) byStage.set(item.currentStage, (byStage.get(item.currentStage) ?? 0) + 1);
    expect(Object.fromEntries(byStage)).toEqual({ build: 1, test: 1, prod: 1 });
  });

  it("shows the chain: the publisher's base, the platform team's hardened image layered on it, apps on that", async () => {
    const admin = await userActor("admin@example.com");
    const hardened = await getImage({ actor: admin, repository: STORY.hardened.repository, digest: await digestOf(STORY.hardened) });
    expect(hardened.base).toMatchObject({ digest: await digestOf(STORY.publisher), inInventory: true });
    expect(hardened.base!.signatures.map((s) => [s.role, s.verdict])).toContainEqual(["publisher", "verified"]);
    expect(hardened.signatures.map((s) => [s.role, s.verdict])).toContainEqual(["team", "verified"]);
    const api = await getImage({ actor: admin, repository: STORY.payments.repository, digest: await digestOf(STORY.payments) });
    expect(api.base).toMatchObject({ digest: await digestOf(STORY.hardened), inInventory: true });
    // For the application teams, the platform team's release key is the publisher of their base.
    expect(api.base!.signatures.map((s) => [s.role, s.verdict])).toContainEqual(["publisher", "verified"]);
    const list = await listImages({ actor: admin, query: parseListImagesQuery({ repository: STORY.payments.repository }) });
    const row = list.items.find((i) => i.digest === api.digest)!;
    expect(row.chain!.map((c) => `${c.label} ${c.mark}`).join(" · ")).toBe("publisher ✓ · team ✓ · build ✓ · test – · prod –");
    expect(api.signatures.map((s) => [s.role, s.verdict])).toContainEqual(["team", "verified"]);
  });

  it("has an open request in alice's inbox, a waiver on a failing gate, a rejection with its reason and a revoked signature", async () => {
    const alice = await userActor("alice@example.com");
    const inbox = await listRequests({ actor: alice, view: "inbox" });
    expect(inbox.length).toBe(1);
    expect(JSON.stringify(inbox[0])).toContain(STORY.payments.repository);

    const waiver = await db.waiver.findFirstOrThrow({ include: { stage: true, grantedBy: true } });
    expect(waiver).toMatchObject({ gate: "findings", vulnIds: [STORY.waivedVuln], digest: await digestOf(STORY.paymentsOld) });
    expect(waiver.stage.name).toBe("test");
    expect(waiver.grantedBy.email).toBe("carol@example.com");
    const waived = await db.review.findFirstOrThrow({ where: { waiverIds: { has: waiver.id } } });
    expect(waived.decision).toBe("approve");

    const rejected = await db.promotionRequest.findFirstOrThrow({
      where: { status: "rejected" },
      include: { reviews: true, image: { include: { repository: true } } },
    });
    expect(rejected.image.repository.name).toBe(STORY.hardenedOld.repository);
    expect(rejected.reviews[0]!.comment).toBe(STORY.rejectionReason);

    const revoked = await db.approval.findFirstOrThrow({ where: { revokedAt: { not: null } }, include: { image: true } });
    expect(revoked.revocationReason).toBe(STORY.revocationReason);
    expect(revoked.image.digest).toBe(await digestOf(STORY.hardened));
    // Its layer has left the registry's .sig manifest.
    expect(await stageLayersInRegistry(STORY.hardened.repository, revoked.image.digest as Digest)).toEqual([]);
  });

  it("holds critical and high findings, SBOMs, signed provenance and a moved tag", async () => {
    const findings = await db.finding.groupBy({ by: ["severity"], _count: true });
    const count = Object.fromEntries(findings.map((f) => [f.severity, f._count]));
    expect(count.critical).toBeGreaterThanOrEqual(1);
    expect(count.high).toBeGreaterThanOrEqual(1);
    const kinds = await db.evidenceDocument.groupBy({ by: ["kind"], _count: true });
    expect(kinds.map((k) => k.kind).sort()).toEqual(expect.arrayContaining(["provenance", "sbom", "scan"]));
    // The two provenance statements CI uploaded (the registry sync may also discover attestations; those are not
    // the story's uploads), each signed by the CI builder key.
    const provenance = await db.evidenceDocument.findMany({
      where: { kind: "provenance", source: "upload" },
      select: { signatureStatus: true, predicateType: true, source: true },
    });
    expect(
      provenance.length,
      JSON.stringify(
        await db.evidenceDocument.findMany({
          where: { kind: "provenance" },
          select: { source: true, predicateType: true, signatureStatus: true, imageId: true },
        }),
      ),
    ).toBe(2);
    for (const p of provenance) expect(p.signatureStatus).toBe("signed");
    const moved = await db.tagEvent.findFirstOrThrow({ where: { tag: "latest", repository: { name: STORY.payments.repository }, fromDigest: { not: null } } });
    expect(moved).toMatchObject({ fromDigest: await digestOf(STORY.payments), toDigest: await digestOf(STORY.paymentsNext) });
  });

  it("tells the story once: a second run adds nothing", async () => {
    // A re-run syncs the registry again (audited as registry.sync); nothing else is written.
    const counted = { action: { notIn: ["registry.sync"] } };
    const rows = async () => [
      await db.auditEvent.count({ where: counted }),
      await db.promotionRequest.count(),
      await db.review.count(),
      await db.approval.count(),
      await db.waiver.count(),
      await db.evidenceDocument.count(),
      await db.tagEvent.count(),
    ];
    const before = await rows();
    const again = await seedStory(() => {});
    uninstallSimClock();
    expect(again.told).toBe(false);
    expect(await rows()).toEqual(before);
  });
});

// Four eyes on advisories. Found by review: any reviewer may import an OSV record, and a version dated now replaces the
// stored one, so a reviewer imported her own "withdrawn" copy of the advisory that failed the findings gate, approved,
// and the digest was signed; the feed's later import of the genuine record was skipped as older. The findings gate now
// fails closed for a request whose requester, approver or build author last imported an advisory of the image, and the
// feed replaces a version an account imported. The first two tests fail on the old code.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { upsertStage } from "../stages/upsert-stage";
import { requestPromotion } from "./request-promotion";
import { reviewRequest } from "./review-request";
import { getRequest } from "./get-request";

const system: Actor = { kind: "system", label: "four-eyes-advisories" };
// What runAdvisoryFeed imports as.
const FEED: Actor = { kind: "system", label: "advisory-feed" };
const GENUINE = JSON.parse(readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json", "utf8")) as {
  id: string;
  modified: string;
  withdrawn?: string;
  affected: { package: { ecosystem: string; name: string }; ranges: { events: Record<string, string>[] }[] }[];
  database_specific: { severity: string };
};
let client: RegistryClient;
let n = 0;

/**
 * The genuine high advisory, under an id and an npm package of this test's own (each test's advisories concern its
 * image alone): `<pkg>` < 4.17.21 is affected.
 */
function advisory(tag: string) {
  const a = structuredClone(GENUINE);
  a.id = `GHSA-test-${tag}`;
  a.affected = a.affected.slice(0, 1);
  a.affected[0]!.package.name = `pkg-${tag}`;
  return a;
}
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

/**
 * An image with CI's (the system's) clean scan (unless `withScan` is false) and an SBOM naming `pkg-<tag>@4.17.20`,
 * and a request for "build".
 */
async function requested(tag: string, requester = "dev@example.com", withScan = true) {
  const repo = `fe-adv/${tag}`;
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const { id: imageId } = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  const scan = { SchemaVersion: 2, ArtifactName: `x-${randomUUID()}`, ArtifactType: "container_image", Results: [] };
  if (withScan) await ingestEvidence({ actor: system, imageId, bytes: bytes(scan), source: "upload" });
  const sbom = {
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    serialNumber: `urn:uuid:${randomUUID()}`,
    components: [{ type: "library", name: `pkg-${tag}`, version: "4.17.20", purl: `pkg:npm/pkg-${tag}@4.17.20` }],
  };
  await ingestEvidence({ actor: system, imageId, bytes: bytes(sbom), source: "upload" });
  const req = await requestPromotion({
    actor: await userActor(requester),
    registry: "default",
    repository: repo,
    digest: img.digest,
    stage: "build",
    note: "please",
  });
  return { imageId, requestId: req.id };
}

async function approve(who: string, requestId: string) {
  return reviewRequest({ actor: await userActor(who), requestId, decision: "approve", comment: "ok", later: () => {} }).then(
    (o) => ({ status: o.status as string, message: "" }),
    (e: { code?: string; message?: string }) => ({ status: e.code ?? "?", message: e.message ?? "" }),
  );
}

const affected = (imageId: string) => db.finding.count({ where: { imageId, documentId: null, status: "affected" } });
const signatures = (requestId: string) => db.approval.count({ where: { requestId } });

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
  await upsertStage({
    actor: system,
    name: "build",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 } } } },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("four eyes on advisories", () => {
  it("a reviewer's own withdrawal of the advisory that fails the gate does not clear it for her approval", async () => {
    const { imageId, requestId } = await requested("withdrawn");
    const genuine = advisory("withdrawn");
    await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" });
    expect(await approve("alice@example.com", requestId)).toMatchObject({
      status: "POLICY_VIOLATION",
      message: expect.stringContaining("high findings 1 > 0"),
    });

    // alice, a reviewer of the stage, imports her own version: withdrawn, dated now. The finding is gone fleet-wide...
    const forged = { ...genuine, modified: new Date().toISOString(), withdrawn: new Date().toISOString() };
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: bytes(forged), origin: "upload" });
    expect(await affected(imageId)).toBe(0);
    // ...but not for her approval: the gate fails closed, naming the advisory and who may import it instead.
    const out = await approve("alice@example.com", requestId);
    expect(out.status, "the approver's own advisory record cleared the gate she then approved on").toBe("POLICY_VIOLATION");
    expect(out.message).toContain(
      "advisory GHSA-test-withdrawn was last imported by alice@example.com, who approves this promotion: the findings limits cannot be judged on their word (four eyes: another reviewer or the advisory feed must import it)",
    );
    expect(await signatures(requestId)).toBe(0);

    // Moved to another package (a narrower claim still): the record still concerns this image, and alice still approves.
    const elsewhere = structuredClone(genuine);
    elsewhere.modified = new Date().toISOString();
    elsewhere.affected[0]!.package.name = "some-other-package";
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: bytes(elsewhere), origin: "upload" });
    expect((await approve("alice@example.com", requestId)).message).toContain("advisory GHSA-test-withdrawn was last imported by alice@example.com");
    expect(await signatures(requestId)).toBe(0);
  });

  it("the feed restores the genuine record over a newer version an account imported", async () => {
    const { imageId, requestId } = await requested("restored");
    const genuine = advisory("restored");
    await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" });
    const lowered = structuredClone(genuine);
    lowered.modified = new Date().toISOString();
    lowered.database_specific.severity = "LOW";
    delete (lowered as { severity?: unknown }).severity;
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: bytes(lowered), origin: "upload" });
    expect((await db.finding.findFirstOrThrow({ where: { imageId, advisoryId: genuine.id } })).severity).toBe("low");
    // An account's import of the older genuine record still does not replace a newer one (as before).
    const byBob = await importAdvisories({ actor: await userActor("bob@example.com"), bytes: bytes(genuine), origin: "upload" });
    expect(byBob).toMatchObject({ updated: 0, unchanged: 1 });

    // The scheduled feed re-imports the genuine record: it replaces alice's "newer" one, and the finding is high again.
    const fed = await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" });
    expect(fed).toMatchObject({ updated: 1, unchanged: 0 });
    const row = await db.advisory.findUniqueOrThrow({ where: { id: genuine.id } });
    expect([row.modified.toISOString(), row.importedBy, row.importedById, row.packageKeys]).toEqual([
      new Date(genuine.modified).toISOString(),
      "system:advisory-feed",
      null,
      ["npm|pkg-restored"],
    ]);
    expect((await db.finding.findFirstOrThrow({ where: { imageId, advisoryId: genuine.id } })).severity).toBe("high");
    // Once the feed's, the same record again changes nothing.
    expect(await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" })).toMatchObject({ updated: 0, unchanged: 1 });
    // The gate judges the genuine finding now (no longer alice's word), and still refuses.
    const out = await approve("alice@example.com", requestId);
    expect(out).toMatchObject({ status: "POLICY_VIOLATION", message: expect.stringContaining("high findings 1 > 0") });
    expect(out.message).not.toContain("last imported by");
  });

  it("a requester who is a reviewer, and the build's author, are checked as the approver is", async () => {
    // carol, a reviewer, requests, then lowers the advisory's severity herself; bob would approve.
    const { requestId } = await requested("requester", "carol@example.com");
    const genuine = advisory("requester");
    await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" });
    const lowered = { ...structuredClone(genuine), modified: new Date().toISOString(), severity: undefined, database_specific: { severity: "LOW" } };
    await importAdvisories({ actor: await userActor("carol@example.com"), bytes: bytes(lowered), origin: "upload" });
    expect((await approve("bob@example.com", requestId)).message).toContain(
      "advisory GHSA-test-requester was last imported by carol@example.com, who requested this promotion",
    );

    // The build's author: whoever uploaded its provenance.
    const built = await requested("builder");
    const genuineB = advisory("builder");
    await importAdvisories({ actor: FEED, bytes: bytes(genuineB), origin: "feed" });
    const statement = {
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: "fe-adv/builder", digest: { sha256: (await db.image.findUniqueOrThrow({ where: { id: built.imageId } })).digest.slice(7) } }],
      predicateType: "https://slsa.dev/provenance/v1",
      predicate: {
        buildDefinition: { buildType: "https://example.com/build/v1", externalParameters: {} },
        runDetails: { builder: { id: "https://ci.example.com/b" } },
      },
    };
    await ingestEvidence({ actor: await userActor("carol@example.com"), imageId: built.imageId, bytes: bytes(statement), source: "upload" });
    const withdrawn = { ...genuineB, modified: new Date().toISOString(), withdrawn: new Date().toISOString() };
    await importAdvisories({ actor: await userActor("carol@example.com"), bytes: bytes(withdrawn), origin: "upload" });
    expect((await approve("bob@example.com", built.requestId)).message).toContain(
      "advisory GHSA-test-builder was last imported by carol@example.com, who uploaded this build's provenance",
    );
    expect(await signatures(requestId)).toBe(0);
    expect(await signatures(built.requestId)).toBe(0);
  });

  it("an uninvolved reviewer's import still counts: the advisory genuinely withdrawn by someone else clears the gate", async () => {
    const { imageId, requestId } = await requested("uninvolved");
    const genuine = advisory("uninvolved");
    await importAdvisories({ actor: FEED, bytes: bytes(genuine), origin: "feed" });
    expect((await approve("alice@example.com", requestId)).status).toBe("POLICY_VIOLATION");
    // bob imports the publisher's withdrawal; he neither requested nor approves nor built this image.
    const withdrawn = { ...genuine, modified: new Date().toISOString(), withdrawn: new Date().toISOString() };
    const bob = await userActor("bob@example.com");
    await importAdvisories({ actor: bob, bytes: bytes(withdrawn), origin: "upload" });
    expect(await affected(imageId)).toBe(0);
    expect((await db.advisory.findUniqueOrThrow({ where: { id: genuine.id } })).importedById).toBe(bob.id);
    expect(await approve("alice@example.com", requestId)).toEqual({ status: "signed", message: "" });
  });
});

// Break glass overrides only the vulnerabilities its confirmation showed. Found by a review of that fix: a findings
// gate failing early (no scan, an uncovered platform, too many rows) named no ids, so a high matched after the page was
// shown was signed over unseen. The gate now names the ids over a limit on those paths too. Fails on the old code.
describe("break glass over a findings gate that fails early", () => {
  it("a findings gate failing early (no scan) names the ids over a limit: a high matched after the page was shown refuses the break glass (409)", async () => {
    const { imageId, requestId } = await requested("glass-noscan", "dev@example.com", false);
    const admin = await userActor("admin@example.com");
    const shown = (await getRequest({ actor: admin, requestId })).gates.find((g) => !g.passed)!;
    expect(await affected(imageId)).toBe(0);
    // After the page was shown: the feed matches a high on the image's SBOM.
    await importAdvisories({ actor: FEED, bytes: bytes(advisory("glass-noscan")), origin: "feed" });
    expect(await affected(imageId)).toBe(1);
    const now = (await getRequest({ actor: admin, requestId })).gates.find((g) => !g.passed)!;
    expect(now.failingIds).toEqual(["CVE-2021-23337"]); // the advisory, under its CVE alias
    const out = await reviewRequest({
      actor: admin,
      requestId,
      decision: "approve",
      comment: "incident: prod down",
      breakGlass: true,
      expectOverrides: [shown.label],
      expectFailingIds: shown.failingIds ?? [],
      later: () => {},
    }).then(
      (o) => o.status as string,
      (e: { code?: string }) => e.code ?? "?",
    );
    expect(out, "break glass signed over GHSA-test-glass-noscan, which the confirmation never showed").toBe("CONFLICT");
    expect(await signatures(requestId)).toBe(0);
  });
});

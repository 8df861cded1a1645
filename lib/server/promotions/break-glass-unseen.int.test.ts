// Break glass overrides only the vulnerabilities its confirmation showed. Found by a review of that fix: a findings
// gate failing early (no scan, an uncovered platform, too many rows) named no ids, so a high matched after the page was
// shown was signed over unseen. The gate now names the ids over a limit on those paths too. Fails on the old code.
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

/** An image with CI's (the system's) clean scan and an SBOM naming `pkg-<tag>@4.17.20`, and a request for "build". */
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

describe("break glass overrides only the vulnerabilities its confirmation showed ", () => {
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

// Sync without waste (issue 17), counted on the wire and in the database: against a real Distribution 2.8
// registry (which has no referrers API and answers 404), a run asks for referrers once, not once per image;
// progress is written in batches, not two UPDATEs per repository.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { RequestCounter } from "../../../bench/lib/request-counter";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { MT } from "../../oci/media-types";
import { referrersFallbackTag } from "../../oci/reference";
import type { Actor } from "../actor";
import { createRegistry } from "../registries/create-registry";
import { syncRegistry } from "./sync-registry";
import { SyncProgress } from "./sync-progress";

const admin: Actor = { kind: "system", label: "sync-waste-test" };
const REPOSITORIES = 7;
const TAGS = 3;
let registry: RegistryHandle;
let client: RegistryClient;

/** Counts the SQL statements this process sends whose text matches `pattern` (observation only). */
function countStatements(pattern: RegExp): { count: () => number; stop: () => void } {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let n = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === "string" ? first : (((first as { text?: unknown } | null)?.text as string | undefined) ?? "");
    if (pattern.test(text)) n++;
    return original.apply(this, args);
  };
  return { count: () => n, stop: () => void (proto.query = original) };
}

const names = Array.from({ length: REPOSITORIES }, (_, i) => `waste/svc-${i}`);

beforeAll(async () => {
  registry = await startRegistry({});
  client = new RegistryClient({ url: registry.url });
  for (const name of names) {
    for (let t = 0; t < TAGS; t++) await pushImage(client, name, buildImage({ architecture: "amd64", layers: [{ "who.txt": `${name}:${t}` }] }), [`v${t}`]);
  }
  await createRegistry({ actor: admin, input: { name: "waste", url: registry.url } });
});

afterAll(async () => {
  await registry.destroy();
  await disconnectDb();
});

describe("a sync against a registry without the referrers API", () => {
  let counter: RequestCounter;
  afterEach(() => counter?.stop());

  it("asks for referrers exactly once per run, still finds referrers through the tag schema, and re-syncs with one HEAD per tag", async () => {
    // One image also carries referrers the way a registry without the API stores them: an index under sha256-<hex>.
    const subject = (await client.headManifest(names[2]!, "v1"))!.digest!;
    const sbom = await pushImage(client, names[2]!, buildImage({ architecture: "amd64", layers: [{ "sbom.json": "{}" }] }));
    const fallback = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [{ mediaType: MT.ociManifest, digest: sbom, size: 1, artifactType: "application/spdx+json" }],
      }),
    );
    await client.putManifest(names[2]!, referrersFallbackTag(subject), fallback, MT.ociIndex);

    counter = new RequestCounter(new URL(registry.url).origin).start();
    const cold = await syncRegistry({ actor: admin, registry: "waste" });
    counter.stop();
    expect(cold.errors).toEqual([]);
    expect(cold.repositories).toBe(REPOSITORIES);
    expect(cold.newManifests).toBe(REPOSITORIES * TAGS);
    const coldCounts = counter.snapshot();
    // 21 images, one referrers request: the first 404 is remembered for the rest of the run.
    expect(coldCounts["GET referrers"]).toBe(1);
    expect(coldCounts["GET manifests (tag)"]).toBe(REPOSITORIES * TAGS + 1);
    const image = await db.image.findFirstOrThrow({ where: { digest: subject, repository: { name: names[2]! } }, include: { artifacts: true } });
    expect(image.artifacts.map((a) => [a.digest, a.source])).toEqual([[sbom, "referrers-tag"]]);

    counter = new RequestCounter(new URL(registry.url).origin).start();
    const again = await syncRegistry({ actor: admin, registry: "waste" });
    counter.stop();
    expect(again.errors).toEqual([]);
    expect(again.newManifests).toBe(0);
    expect(again.manifestBodiesFetched).toBe(1); // the fallback index only, its content is read every run
    const counts = counter.snapshot();
    expect(counts["GET referrers"]).toBe(1);
    expect(counts["HEAD manifests (tag)"]).toBe(REPOSITORIES * TAGS);
    // Keep-alive of HEADs is asserted in lib/oci/keep-alive.test.ts, where no idle time (a pooled connection is
    // dropped after 4 s idle, which a loaded machine's database phases can reach) makes the count depend on timing.
  });

  it("a sync's batched progress ends with exact counts: every repository done, synced and without error", async () => {
    const r = await syncRegistry({ actor: admin, registry: "waste" });
    expect(r.errors).toEqual([]);
    const run = await db.syncRun.findUniqueOrThrow({ where: { id: r.syncRunId } });
    expect(run.reposDone).toBe(REPOSITORIES);
    expect(run.status).toBe("succeeded");
    const repos = await db.repository.findMany({ where: { registry: { name: "waste" } } });
    expect(repos).toHaveLength(REPOSITORIES);
    expect(repos.every((x) => x.lastSyncedAt && x.lastSyncedAt >= run.startedAt! && x.lastError === null)).toBe(true);
  });

  it("SyncProgress counts failures and successes into one batch, keeps the error rows, and flushes the rest on demand", async () => {
    const reg = await db.registry.findUniqueOrThrow({ where: { name: "waste" } });
    const run = await db.syncRun.create({ data: { registryId: reg.id, status: "running", trigger: "cli", scope: [] } });
    const errors = [{ repository: names[0]!, message: "boom" }];
    const progress = new SyncProgress(run.id, reg.id, errors, { batch: 3, intervalMs: 60_000 });
    // Prisma's spelling ("public"."sync_runs") or the batch's own statement (the repositories' UPDATE is a CTE of it).
    const runUpdates = countStatements(/\bUPDATE\s+("public"\.)?"?sync_runs"?\s+SET\b/i);
    const repoUpdates = countStatements(/\bUPDATE\s+("public"\.)?"?repositories"?\s+SET\b/i);
    await progress.failed(names[0]!, "boom");
    await progress.succeeded(names[1]!);
    expect((await db.syncRun.findUniqueOrThrow({ where: { id: run.id } })).reposDone).toBe(0);
    await progress.succeeded(names[2]!); // third: the batch is due
    let row = await db.syncRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.reposDone).toBe(3);
    expect(row.errors).toEqual(errors);
    for (const name of names.slice(3)) await progress.succeeded(name); // 4 more: one batch of 3 is due, 1 left over
    await progress.flush();
    await progress.flush(); // nothing pending: no write, no double count
    runUpdates.stop();
    repoUpdates.stop();
    row = await db.syncRun.findUniqueOrThrow({ where: { id: run.id } });
    expect(row.reposDone).toBe(REPOSITORIES);
    // 7 repositories in batches of 3: three UPDATEs of the run (3 + 3 + 1), not seven; the repositories' rows:
    // the failure at once, then one UPDATE per batch of successes, in the batch's one statement.
    expect(runUpdates.count()).toBe(3);
    expect(repoUpdates.count()).toBe(1 + 3);
    expect((await db.repository.findFirstOrThrow({ where: { registryId: reg.id, name: names[0]! } })).lastError).toBe("boom");
  });
});

// Sync with few round trips (issue 17), counted on the wire to Postgres: a repository costs one statement to read
// what is stored and one to write what changed; a re-sync that finds nothing changed writes nothing per
// repository. And what those statements write is what the many small ones wrote: images (an index with its
// platform manifests), tags, moves, removals, events, and a deleted digest that a tag points to again.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage, pushIndex } from "../../../scripts/lib/oci-build";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { createRegistry } from "../registries/create-registry";
import { ensureRepository } from "../registries/ensure-repository";
import { RepositoryStateLoader } from "./load-repository-state";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "sync-statements-test" };
const REPOSITORIES = 5;
const TAGS = 3;
let registry: RegistryHandle;
let client: RegistryClient;
const names = Array.from({ length: REPOSITORIES }, (_, i) => `rt/svc-${i}`);

/** Every SQL text this process sends while `fn` runs (observation only). */
async function statementsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; texts: string[] }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  const texts: string[] = [];
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    texts.push(typeof first === "string" ? first : (((first as { text?: unknown } | null)?.text as string | undefined) ?? ""));
    return original.apply(this, args);
  };
  try {
    return { result: await fn(), texts };
  } finally {
    proto.query = original;
  }
}

const count = (texts: string[], re: RegExp) => texts.filter((t) => re.test(t)).length;
/** Statements that write images, tags, tag events or artifacts, however Prisma or raw SQL names the table. */
const INVENTORY_WRITE = /\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+("public"\.)?"?(images|tags|tag_events|artifacts)"?[\s(]/i;

beforeAll(async () => {
  registry = await startRegistry({});
  client = new RegistryClient({ url: registry.url });
  for (const name of names) {
    for (let t = 0; t < TAGS; t++) await pushImage(client, name, buildImage({ architecture: "amd64", layers: [{ "who.txt": `${name}:${t}` }] }), [`v${t}`]);
  }
  await createRegistry({ actor: admin, input: { name: "round-trips", url: registry.url } });
});

afterAll(async () => {
  await registry.destroy();
  await disconnectDb();
});

describe("a sync's round trips to the database", () => {
  it("reads stored state in one statement per batch of repositories, writes once per new repository, and writes no inventory when nothing changed", async () => {
    const cold = await statementsDuring(() => syncRegistry({ actor: admin, registry: "round-trips" }));
    expect(cold.result.errors).toEqual([]);
    expect(cold.result.newManifests).toBe(REPOSITORIES * TAGS);
    // One read for all five repositories (a batch; it also creates the missing rows), one write per repository
    // (images, tags and their events together).
    expect(count(cold.texts, /JOIN wanted/)).toBe(1);
    expect(count(cold.texts, /FROM repositories WHERE registry_id/)).toBe(0);
    expect(count(cold.texts, /INSERT INTO images/)).toBe(REPOSITORIES);
    expect(count(cold.texts, /INSERT INTO tag_events/)).toBe(REPOSITORIES);
    expect(count(cold.texts, INVENTORY_WRITE)).toBe(REPOSITORIES);
    expect(await db.image.count({ where: { repository: { name: { in: names } } } })).toBe(REPOSITORIES * TAGS);
    expect(await db.tagEvent.count({ where: { repository: { name: { in: names } }, fromDigest: null } })).toBe(REPOSITORIES * TAGS);

    const before = await db.image.findMany({ where: { repository: { name: { in: names } } }, select: { id: true, lastSeenAt: true } });
    const again = await statementsDuring(() => syncRegistry({ actor: admin, registry: "round-trips" }));
    expect(again.result.errors).toEqual([]);
    expect(again.result.newManifests).toBe(0);
    expect(again.result.tags).toBe(REPOSITORIES * TAGS);
    expect(count(again.texts, /JOIN wanted/)).toBe(1);
    expect(count(again.texts, /FROM repositories WHERE registry_id/)).toBe(0);
    // The only inventory write: every seen image's last-seen time, in one batch with the run's progress.
    const writes = again.texts.filter((t) => INVENTORY_WRITE.test(t));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/UPDATE images SET last_seen_at/);
    const after = new Map(
      (await db.image.findMany({ where: { id: { in: before.map((b) => b.id) } }, select: { id: true, lastSeenAt: true } })).map((i) => [i.id, i.lastSeenAt]),
    );
    expect(before.every((b) => after.get(b.id)! > b.lastSeenAt)).toBe(true);
  });
});

describe("what the batched statements write", () => {
  it("stores an index with its platform manifests, records moves and removals with events, and revives a deleted digest a tag points to again", async () => {
    const repo = "rt/multi";
    const amd = buildImage({ architecture: "amd64", layers: [{ "a.txt": "amd" }] });
    const arm = buildImage({ architecture: "arm64", layers: [{ "a.txt": "arm" }] });
    const index = await pushIndex(client, repo, [amd, arm], ["1.0"]);
    const solo = buildImage({ architecture: "amd64", layers: [{ "a.txt": "solo" }] });
    await pushImage(client, repo, solo, ["solo", "temp"]);
    const r1 = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r1.errors).toEqual([]);
    expect(r1.newManifests).toBe(2);
    const rows = await db.image.findMany({ where: { repository: { name: repo } }, orderBy: { digest: "asc" } });
    expect(rows.map((r) => [r.digest, r.parentDigest]).sort()).toEqual(
      [
        [amd.digest, index],
        [arm.digest, index],
        [index, null],
        [solo.digest, null],
      ].sort(),
    );
    expect(rows.find((r) => r.digest === index)!.platforms).toEqual(
      expect.arrayContaining([expect.objectContaining({ digest: amd.digest, architecture: "amd64" })]),
    );
    expect(rows.find((r) => r.digest === amd.digest)!.diffIds).toHaveLength(1);
    expect(Buffer.from(rows.find((r) => r.digest === solo.digest)!.manifest).equals(solo.manifest)).toBe(true);

    // "1.0" moves to the solo image; the index, untagged now, is still in the registry...
    await client.putManifest(repo, "1.0", solo.manifest, solo.mediaType);
    const r2 = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r2.errors).toEqual([]);
    expect(r2.tagMoves).toBe(1);
    const tags = await db.tag.findMany({ where: { repository: { name: repo } }, orderBy: { name: "asc" } });
    expect(tags.map((t) => [t.name, t.digest])).toEqual([
      ["1.0", solo.digest],
      ["solo", solo.digest],
      ["temp", solo.digest],
    ]);
    expect((await db.image.findFirstOrThrow({ where: { digest: index } })).deletedAt).toBeNull(); // untagged, still in the registry

    // ...then the index is deleted in the registry: marked deleted with its platform manifests, and "1.0" left alone.
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/${index}`, { method: "DELETE" })).status).toBe(202);
    const r3 = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r3.deleted).toBe(1);
    expect((await db.image.findMany({ where: { repository: { name: repo }, deletedAt: { not: null } } })).map((i) => i.digest).sort()).toEqual(
      [amd.digest, arm.digest, index].sort(),
    );

    // Pushed again and tagged: the same digest is alive again, with no second row.
    await pushIndex(client, repo, [amd, arm], ["back"]);
    const r4 = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r4.errors).toEqual([]);
    expect(r4.newManifests).toBe(0);
    const revived = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });
    expect(revived.deletedAt).toBeNull();
    expect(await db.image.count({ where: { digest: index } })).toBe(1);
    // Its platform manifests, deleted with it, are alive again with it.
    expect((await db.image.findMany({ where: { repository: { name: repo }, parentDigest: index } })).map((i) => [i.digest, i.deletedAt])).toEqual(
      expect.arrayContaining([
        [amd.digest, null],
        [arm.digest, null],
      ]),
    );

    // A tag removed from the registry: deleted, with its "moved to nothing" event.
    expect((await fetch(`${registry.url}/v2/${repo}/manifests/${solo.digest}`, { method: "DELETE" })).status).toBe(202);
    const r5 = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r5.errors).toEqual([]);
    expect(r5.tagMoves).toBe(3);
    expect((await db.tag.findMany({ where: { repository: { name: repo } } })).map((t) => t.name)).toEqual(["back"]);
    const events = await db.tagEvent.findMany({ where: { repository: { name: repo }, toDigest: null } });
    expect(events.map((e) => [e.tag, e.fromDigest]).sort()).toEqual([
      ["1.0", solo.digest],
      ["solo", solo.digest],
      ["temp", solo.digest],
    ]);
  });

  it("two syncs of the same registry at once store every image and first-seen event exactly once", async () => {
    const repo = "rt/race";
    for (let t = 0; t < 4; t++) await pushImage(client, repo, buildImage({ architecture: "amd64", layers: [{ "r.txt": `race-${t}` }] }), [`r${t}`]);
    const [a, b] = await Promise.all([
      syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] }),
      syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] }),
    ]);
    expect([...a.errors, ...b.errors]).toEqual([]);
    expect(a.newManifests + b.newManifests).toBe(4);
    expect(await db.image.count({ where: { repository: { name: repo } } })).toBe(4);
    expect(await db.tag.count({ where: { repository: { name: repo } } })).toBe(4);
    expect(await db.tagEvent.count({ where: { repository: { name: repo } } })).toBe(4);
    expect(await db.repository.count({ where: { name: repo } })).toBe(1);
  });

  it("ensureRepository creates a repository once under concurrent callers and only reads it afterwards", async () => {
    const reg = await db.registry.findUniqueOrThrow({ where: { name: "round-trips" } });
    const rows = await Promise.all(Array.from({ length: 8 }, () => ensureRepository(reg.id, "rt/ensured")));
    expect(new Set(rows.map((r) => r.id)).size).toBe(1);
    const again = await statementsDuring(() => ensureRepository(reg.id, "rt/ensured"));
    expect(again.result.id).toBe(rows[0]!.id);
    expect(again.texts).toHaveLength(1);
  });

  it("the state loader reads repositories in batches, one ahead; a large repository and a failed batch are read alone", async () => {
    const reg = await db.registry.findUniqueOrThrow({ where: { name: "round-trips" } });
    const big = await ensureRepository(reg.id, "rt/big");
    await db.tag.createMany({
      data: Array.from({ length: 1001 }, (_, i) => ({ repositoryId: big.id, name: `t${i}`, digest: `sha256:${String(i).padStart(64, "0")}` })),
    });
    const wanted = ["rt/b0", "rt/b1", "rt/big", "rt/b3", "rt/b4"];
    const loader = new RepositoryStateLoader(reg.id, wanted, 2);
    const first = await statementsDuring(async () => Promise.all(wanted.map((n) => loader.load(n))));
    expect(first.result.map((s) => s.tags.length)).toEqual([0, 0, 1001, 0, 0]);
    expect(await db.repository.count({ where: { registryId: reg.id, name: { in: wanted } } })).toBe(5);
    // Three batches of two (the last one alone), and "rt/big" (over 1,000 tags) once more on its own.
    expect(count(first.texts, /JOIN wanted/)).toBe(3);
    expect(count(first.texts, /FROM repositories WHERE registry_id/)).toBe(1);

    // A name Postgres refuses (NUL) fails its batch; its neighbour is still read, on its own, and only it fails.
    const hostile = new RepositoryStateLoader(reg.id, ["rt/b0", "rt/\u0000bad"], 2);
    expect((await hostile.load("rt/b0")).repositoryId).toBe(first.result[0]!.repositoryId);
    await expect(hostile.load("rt/\u0000bad")).rejects.toThrow();
  });

  it("stores an image whose config carries a lone surrogate (from a hostile registry) with U+FFFD instead of failing the repository", async () => {
    const repo = "rt/surrogate";
    const bad = buildImage({ architecture: "amd64", layers: [{ "s.txt": "s" }], labels: { "org.example.name": "x\ud800y" } });
    await pushImage(client, repo, bad, ["1"]);
    const r = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r.errors).toEqual([]);
    const row = await db.image.findFirstOrThrow({ where: { digest: bad.digest } });
    expect(row.labels).toMatchObject({ "org.example.name": "x\ufffdy" });
  });

  it("stores an image whose config carries a NUL in a label's value and key, and its repository's other images with it", async () => {
    // Found by the session-13 security review: jsonb refuses \u0000, and one such image failed its repository's whole
    // write on every sync (new images, tag moves and deletions of that repository never recorded).
    const repo = "rt/nul";
    const good = buildImage({ architecture: "amd64", layers: [{ "g.txt": "good" }] });
    const bad = buildImage({ architecture: "amd64", layers: [{ "n.txt": "nul" }], labels: { "org.example.name": "x\u0000y", "k\u0000": "v" } });
    await pushImage(client, repo, good, ["good"]);
    await pushImage(client, repo, bad, ["bad"]);
    const r = await syncRegistry({ actor: admin, registry: "round-trips", repositories: [repo] });
    expect(r.errors).toEqual([]);
    expect(await db.image.count({ where: { digest: { in: [good.digest, bad.digest] } } })).toBe(2);
    const row = await db.image.findFirstOrThrow({ where: { digest: bad.digest } });
    expect(row.labels).toMatchObject({ "org.example.name": "x\ufffdy", "k\ufffd": "v" });
  });
});

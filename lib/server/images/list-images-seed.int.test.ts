// The image-list benchmark seeds 10,000 images with SQL (bench/lib/image-list-seed*.ts) rather than through the
// product; these tests hold that seed to what the product writes: a real push, sync and approval next to a small
// seed in the same database, compared column by column where the list reads, then the list itself over both, and the
// benchmark's raw SQL against listImages() on the seed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { seedImageList } from "../../../bench/lib/image-list-seed-trust";
import { comparePage, rawPage } from "../../../bench/image-list-child";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "./sync-registry";
import { listImages, parseListImagesQuery } from "./list-images";

const system: Actor = { kind: "system", label: "list-images-seed-test" };
let realImageId = "";
let realDigest = "";

/** Which columns of a row are null, and the keys of its JSON objects: what "the same shape" means here. */
function shape(row: Record<string, unknown>, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(row)) {
    if (skip.includes(k)) continue;
    out[k] =
      v === null
        ? "null"
        : Array.isArray(v)
          ? `array of ${typeof v[0]}`
          : v instanceof Date
            ? "date"
            : typeof v === "object" && !(v instanceof Uint8Array)
              ? `{${Object.keys(v).sort().join(",")}}`
              : typeof v;
  }
  return out;
}

async function one(sql: string, ...values: unknown[]): Promise<Record<string, unknown>> {
  const rows = await db.$queryRawUnsafe<Record<string, unknown>[]>(sql, ...values);
  if (!rows[0]) throw new Error(`no row for ${sql}`);
  return rows[0];
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `seed-shape ${Date.now()}` }] });
  await pushImage(client, "real/app", img, ["v1.0.0", "latest"]);
  await syncRegistry({ actor: system });
  await requestAndApprove({ actor: await userActor("alice@example.com"), repository: "real/app", digest: img.digest, stage: "build", comment: "ok" });
  await syncRegistry({ actor: system });
  realDigest = img.digest;
  realImageId = (await db.image.findFirstOrThrow({ where: { digest: img.digest } })).id;
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await c.connect();
  try {
    await seedImageList(c, { images: 200, prefix: "seed-" });
  } finally {
    await c.end();
  }
});

afterAll(async () => {
  await disconnectDb();
});

const SEEDED_BUILD_ONLY = `SELECT i.* FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
  JOIN stage_decisions d ON d.image_id = i.id AND d.state = 'approved' JOIN stages st ON st.id = d.stage_id AND st.name = 'build'
  WHERE g.name LIKE 'seed-%' AND i.media_type = 'application/vnd.oci.image.manifest.v1+json' AND i.parent_digest IS NULL AND i.deleted_at IS NULL
    AND (SELECT count(*) FROM approvals a WHERE a.image_id = i.id) = 1 AND NOT EXISTS (SELECT 1 FROM signatures s WHERE s.image_id = i.id AND s.role IS DISTINCT FROM 'stage')
    AND position('.base.' in convert_from(i.manifest, 'UTF8')) = 0
    AND EXISTS (SELECT 1 FROM tags t WHERE t.digest = i.digest)
  ORDER BY i.digest LIMIT 1`;

describe("the image-list benchmark's seed", () => {
  it("writes image, stage signature, approval and decision rows shaped as the sync and the approval write them", async () => {
    const seeded = await one(SEEDED_BUILD_ONLY);
    const real = await one(`SELECT * FROM images WHERE id = $1::uuid`, realImageId);
    // labels/history hold what the image's config says; the seed's images have some, the test image none.
    expect(shape(seeded, ["labels", "history"])).toEqual(shape(real, ["labels", "history"]));

    const sigSql = `SELECT * FROM signatures WHERE image_id = $1::uuid AND role = 'stage'`;
    const [realSig, seededSig] = [await one(sigSql, realImageId), await one(sigSql, seeded.id)];
    expect(shape(seededSig)).toEqual(shape(realSig));
    for (const k of ["verdict", "key_name", "format", "role", "media_type", "trusted_by", "time_kind"]) expect([k, seededSig[k]]).toEqual([k, realSig[k]]);
    expect(seededSig.detail).toBe(realSig.detail);
    const checkNames = (s: Record<string, unknown>) => (s.checks as { check: string; passed: boolean | null }[]).map((c) => [c.check, c.passed]);
    expect(checkNames(seededSig)).toEqual(checkNames(realSig));
    expect(Object.keys(seededSig.optional as object).sort()).toEqual(Object.keys(realSig.optional as object).sort());

    // request_id: the seed's approvals conclude no promotion request (nothing the list reads).
    const apSql = `SELECT * FROM approvals WHERE image_id = $1::uuid`;
    expect(shape(await one(apSql, seeded.id), ["request_id"])).toEqual(shape(await one(apSql, realImageId), ["request_id"]));

    const decSql = `SELECT d.allowed, d.state, d.detail, d.approver IS NOT NULL AS has_approver, d.valid_until, regexp_replace(d.reasons[1], ', approved by .*$', '') AS reason
      FROM stage_decisions d JOIN stages st ON st.id = d.stage_id WHERE d.image_id = $1::uuid AND st.name = 'build'`;
    expect(await one(decSql, seeded.id)).toEqual(await one(decSql, realImageId));

    const artSql = `SELECT array_agg(kind || ':' || source || ':' || coalesce(predicate_type, '') ORDER BY kind) AS kinds FROM artifacts WHERE image_id = $1::uuid`;
    expect((await one(artSql, seeded.id)).kinds).toEqual((await one(artSql, realImageId)).kinds);
  });

  it("lists a seeded image approved for build exactly as it lists the really approved one, but for its own names", async () => {
    const seeded = await one(SEEDED_BUILD_ONLY);
    const list = async (registry: string, digest: string) =>
      (await listImages({ actor: system, query: parseListImagesQuery({ registry, digest: digest.slice(7, 30) }) })).items.find((i) => i.digest === digest)!;
    const registryOf = async (id: unknown) =>
      (
        await one(
          `SELECT g.name FROM images i JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id WHERE i.id = $1::uuid`,
          id,
        )
      ).name as string;
    const real = await list(await registryOf(realImageId), realDigest);
    const mine = await list(await registryOf(seeded.id), seeded.digest as string);
    const comparable = (x: typeof real) => ({
      mediaType: x.mediaType,
      platforms: x.platforms,
      currentStage: x.currentStage,
      stages: x.stages,
      chain: x.chain,
      signatures: x.signatures,
      verifiedSignatures: x.verifiedSignatures,
      artifacts: x.artifacts,
      pendingSignatures: x.pendingSignatures,
      atRisk: x.atRisk,
      keys: Object.keys(x),
    });
    expect(comparable(mine)).toEqual(comparable(real));
  });

  it("gives the benchmark's raw page the rows, order and shown columns listImages gives, for every filter it times", async () => {
    for (const query of [
      "registry=seed-corp",
      "registry=seed-mirror&sort=seen&dir=desc",
      "repository=ta",
      "stage=build",
      "stage=none&sort=created",
      "severity=critical",
      "signed=unsigned",
      "tag=latest",
      "page=2",
    ]) {
      const app = await listImages({ actor: system, query: parseListImagesQuery(new URLSearchParams(query)) });
      const sql = rawPage(new URLSearchParams(query));
      const raw = await db.$queryRawUnsafe<Parameters<typeof comparePage>[1]>(sql.text, ...sql.values);
      expect([query, comparePage(app as unknown as Parameters<typeof comparePage>[0], raw)]).toEqual([query, []]);
      expect([query, app.items.length > 0]).toEqual([query, true]);
    }
  });
});

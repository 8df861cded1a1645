import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { revokeApproval } from "../approvals/revoke-approval";
import { syncRegistry } from "../images/sync-registry";
import { evaluateImage, evaluateReview } from "./evaluate-image";
import { setNamespacePolicy } from "./review-images";

// Left open by two reviews: admission judged a platform manifest by images.parent_digest, the first index it was
// synced under. The same platform build is often shared by a later index (a multi-arch tag re-published with one
// platform rebuilt); approving that later index, whose signature covers the shared manifest, did not admit it.

const system: Actor = { kind: "system", label: "shared-platform-admission-test" };
const repo = "adm/shared";
let host: string;
let first: string;
let second: string;
let shared: string;
let onlyFirst: string;
let onlySecond: string;

/** One amd64 build two indexes share, and an arm64 build of each (the second a rebuild). */
function threeBuilds() {
  const salt = randomUUID();
  const build = (architecture: string, name: string) => buildImage({ architecture, layers: [{ "app.txt": `${name} ${salt}` }] });
  return { amd: build("amd64", "amd"), arm1: build("arm64", "arm1"), arm2: build("arm64", "arm2") };
}

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  const { amd, arm1, arm2 } = threeBuilds();
  first = await pushIndex(client, repo, [amd, arm1], ["v1"]);
  await syncRegistry({ actor: system });
  second = await pushIndex(client, repo, [amd, arm2], ["v1.0.1"]);
  await syncRegistry({ actor: system });
  [shared, onlyFirst, onlySecond] = [amd.digest, arm1.digest, arm2.digest];
  await setNamespacePolicy({ actor: system, namespace: "shared-prod", stage: "prod" });
});

afterAll(async () => {
  await disconnectDb();
});

const verify = (digest: string, repository = repo) => evaluateImage({ image: `${host}/${repository}@${digest}`, stage: "prod", refuseTags: true });

describe("a platform manifest that two indexes share", () => {
  it("is admitted by the approval of the second index, as long as that approval stands, and never by the first's absence", async () => {
    const platform = await db.image.findFirstOrThrow({ where: { digest: shared, repository: { name: repo } } });
    expect(platform.parentDigest).toBe(first);
    // Nothing approved: denied, with the first parent's reasons as before.
    const before = await verify(shared);
    expect(before.allowed).toBe(false);
    expect(before.reasons.join()).toContain(`platform manifest of index ${first}`);

    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: repo,
      digest: second as `sha256:${string}`,
      stage: "prod",
      comment: "ok",
    });
    const v = await verify(shared);
    expect(v).toMatchObject({ allowed: true, digest: shared });
    expect(v.reasons.join()).toContain(`platform manifest of index ${second}`);
    // The platforms each index lists alone follow their own index only.
    expect((await verify(onlySecond)).allowed).toBe(true);
    expect((await verify(onlyFirst)).allowed).toBe(false);
    const review = await evaluateReview({
      namespace: "shared-prod",
      images: [`${host}/${repo}@${shared}`, `${host}/${repo}@${onlyFirst}`, `${host}/${repo}@${onlySecond}`],
    });
    expect(review.verdicts.map((x) => x.allowed)).toEqual([true, false, true]);

    // Revoking the second index's approval takes the shared manifest back out.
    await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "test", removeNow: false });
    const after = await verify(shared);
    expect(after.allowed).toBe(false);
    expect(after.reasons.join()).toContain(`platform manifest of index ${first}`);
    expect((await verify(onlySecond)).allowed).toBe(false);
  });

  it("is not admitted through an index of the same repository that no longer exists in the registry", async () => {
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: repo,
      digest: second as `sha256:${string}`,
      stage: "prod",
      comment: "again",
    });
    expect((await verify(shared)).allowed).toBe(true);
    await db.image.updateMany({ where: { digest: second, repository: { name: repo } }, data: { deletedAt: new Date() } });
    try {
      expect((await verify(shared)).allowed).toBe(false);
    } finally {
      await db.image.updateMany({ where: { digest: second, repository: { name: repo } }, data: { deletedAt: null } });
      await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "test", removeNow: false });
    }
  });
});

describe("deleting one of the indexes that share a platform manifest", () => {
  it("keeps the shared manifest while another index lists it, deletes it with the last one, and revives it with either", async () => {
    const alice = await userActor("alice@example.com");
    const approval = await requestAndApprove({ actor: alice, repository: repo, digest: second as `sha256:${string}`, stage: "prod", comment: "third" });
    const registry = process.env.REGISTRY_URL!;
    const state = async () =>
      Object.fromEntries(
        (await db.image.findMany({ where: { repository: { name: repo }, digest: { in: [first, second, shared, onlyFirst, onlySecond] } } })).map((i) => [
          i.digest,
          i.deletedAt !== null,
        ]),
      );
    // The first index (the shared manifest's first parent) is deleted: its own platform goes with it, the shared one stays.
    expect((await fetch(`${registry}/v2/${repo}/manifests/${first}`, { method: "DELETE" })).status).toBe(202);
    await syncRegistry({ actor: system });
    expect(await state()).toEqual({ [first]: true, [onlyFirst]: true, [second]: false, [shared]: false, [onlySecond]: false });
    expect((await verify(shared)).allowed).toBe(true);
    expect((await verify(onlyFirst)).allowed).toBe(false);

    // Then the second: the shared manifest goes with the last index that listed it, though it names the first as parent.
    expect((await fetch(`${registry}/v2/${repo}/manifests/${second}`, { method: "DELETE" })).status).toBe(202);
    await syncRegistry({ actor: system });
    expect(await state()).toEqual({ [first]: true, [onlyFirst]: true, [second]: true, [shared]: true, [onlySecond]: true });
    expect((await verify(shared)).allowed).toBe(false);

    // The second index pushed again brings back the platforms it lists, the shared one included.
    const manifest = await fetch(`${registry}/v2/${repo}/manifests/${first}`);
    expect(manifest.status).toBe(404);
    const stored = await db.image.findFirstOrThrow({ where: { digest: second, repository: { name: repo } } });
    const put = await fetch(`${registry}/v2/${repo}/manifests/again`, {
      method: "PUT",
      headers: { "content-type": stored.mediaType },
      body: Buffer.from(stored.manifest),
    });
    expect(put.status).toBe(201);
    await syncRegistry({ actor: system });
    expect(await state()).toEqual({ [first]: true, [onlyFirst]: true, [second]: false, [shared]: false, [onlySecond]: false });
    expect((await verify(shared)).allowed).toBe(true);
    await revokeApproval({ approvalId: approval.id, actor: alice, reason: "test", removeNow: false });
  });
});

// Found by review of the change above: the approved first parent is deleted from the registry while another index of
// the repository (unapproved, pushed by anyone with push rights) lists the same platform, so the platform stays live;
// admission fell back to the deleted first parent, and its approval admitted the platform.
describe("a platform whose only approved index was deleted from the registry", () => {
  const other = "adm/deleted-parent";
  let approvedIndex: string;
  let platform: string;
  let onlyApproved: string;

  beforeAll(async () => {
    const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
    const { amd, arm1, arm2 } = threeBuilds();
    approvedIndex = await pushIndex(client, other, [amd, arm1], ["v1"]);
    await syncRegistry({ actor: system });
    [platform, onlyApproved] = [amd.digest, arm1.digest];
    const alice = await userActor("alice@example.com");
    await requestAndApprove({ actor: alice, repository: other, digest: approvedIndex as `sha256:${string}`, stage: "prod", comment: "ok" });
    await pushIndex(client, other, [amd, arm2], ["other"]);
    await syncRegistry({ actor: system });
  });

  it("is not admitted by that index's approval, though an unapproved index keeps it in the registry", async () => {
    expect((await verify(platform, other)).allowed).toBe(true);
    expect((await fetch(`${process.env.REGISTRY_URL!}/v2/${other}/manifests/${approvedIndex}`, { method: "DELETE" })).status).toBe(202);
    await syncRegistry({ actor: system });
    expect((await db.image.findFirstOrThrow({ where: { digest: approvedIndex, repository: { name: other } } })).deletedAt).not.toBeNull();
    expect((await verify(approvedIndex, other)).allowed).toBe(false);
    expect((await verify(onlyApproved, other)).allowed).toBe(false);
    const v = await verify(platform, other);
    expect(v.allowed, JSON.stringify(v.reasons)).toBe(false);
  });
});

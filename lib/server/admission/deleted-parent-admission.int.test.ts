import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { buildImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { evaluateImage } from "./evaluate-image";

// Found by review of the shared-platform change: the first parent (approved) is deleted from the registry; another index of the repository (unapproved,
// e.g. pushed by anyone with push rights) lists the same platform, so the platform stays live; admission then falls
// back to the deleted first parent (tie-breaker c.digest = i.parent_digest) and its approval admits the platform.
const system: Actor = { kind: "system", label: "deleted-parent-test" };
const repo = "adm/deleted-parent";
let host: string;
let first: string;
let shared: string;
let onlyFirst: string;

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  const salt = randomUUID();
  const amd = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd ${salt}` }] });
  const arm1 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm1 ${salt}` }] });
  const arm2 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm2 ${salt}` }] });
  first = await pushIndex(client, repo, [amd, arm1], ["v1"]);
  await syncRegistry({ actor: system });
  [shared, onlyFirst] = [amd.digest, arm1.digest];
  await requestAndApprove({ actor: await userActor("alice@example.com"), repository: repo, digest: first as `sha256:${string}`, stage: "prod", comment: "ok" });
  // An unapproved index listing the shared platform, pushed later by someone with push rights.
  await pushIndex(client, repo, [amd, arm2], ["other"]);
  await syncRegistry({ actor: system });
});

afterAll(async () => {
  await disconnectDb();
});

const verify = (digest: string) => evaluateImage({ image: `${host}/${repo}@${digest}`, stage: "prod", refuseTags: true });

it("a platform whose only approved index was deleted from the registry is not admitted", async () => {
  expect((await verify(shared)).allowed).toBe(true);
  const registry = process.env.REGISTRY_URL!;
  expect((await fetch(`${registry}/v2/${repo}/manifests/${first}`, { method: "DELETE" })).status).toBe(202);
  await syncRegistry({ actor: system });
  const idx = await db.image.findFirstOrThrow({ where: { digest: first, repository: { name: repo } } });
  expect(idx.deletedAt).not.toBeNull();
  // The deleted index itself and its own platform are denied...
  expect((await verify(first)).allowed).toBe(false);
  expect((await verify(onlyFirst)).allowed).toBe(false);
  // ...but the shared platform is still admitted by the deleted index's approval.
  const v = await verify(shared);
  expect(v.allowed, JSON.stringify(v.reasons)).toBe(false);
});

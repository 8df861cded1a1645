import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage, pushOciLayout } from "../../../scripts/lib/oci-build";
import { FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { addTrustedKey } from "../keys/add-trusted-key";
import { stopBoss } from "../jobs/boss";
import { schedulerTick, startWorkers } from "../jobs/workers";
import { handleNotification } from "../registries/handle-notification";
import { createRegistry } from "../registries/create-registry";
import { rotateWebhookToken } from "../registries/rotate-webhook-token";
import { updateRegistry } from "../registries/update-registry";
import { testRegistryConnection } from "../registries/test-registry-connection";
import { getImage } from "./get-image";
import { listImages, parseListImagesQuery } from "./list-images";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "inventory-test" };
let open: RegistryHandle;
let locked: RegistryHandle;
let openClient: RegistryClient;
let lockedClient: RegistryClient;
const creds = { username: "ci-reader", password: "s3cret-Pa55" };

const alice = () => userActor("alice@example.com");

const img = (label: string) => buildImage({ architecture: "amd64", layers: [{ "label.txt": label }] });

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  open = await startRegistry({});
  locked = await startRegistry({ htpasswd: creds });
  openClient = new RegistryClient({ url: open.url });
  lockedClient = new RegistryClient({ url: locked.url, ...creds });
  await createRegistry({ actor: admin, input: { name: "inv-open", url: open.url } });
  await createRegistry({ actor: admin, input: { name: "inv-locked", url: locked.url, readCredentials: creds } });
  await addTrustedKey({ actor: admin, name: "publisher", pem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8") }).catch(() => undefined);
});

afterAll(async () => {
  await stopBoss();
  await open.destroy();
  await locked.destroy();
  await disconnectDb();
});

describe("several registries, with credentials", () => {
  it("syncs a registry behind basic auth with its stored credentials, which are encrypted at rest", async () => {
    await pushImage(lockedClient, "secure/app", img("secure"), ["1.0"]);
    const r = await syncRegistry({ actor: admin, registry: "inv-locked" });
    expect(r.errors).toEqual([]);
    expect(r.repositories).toBe(1);
    const row = await db.registry.findUniqueOrThrow({ where: { name: "inv-locked" } });
    expect(Buffer.from(row.readCredentials!).toString("latin1")).not.toContain(creds.password);
    const list = await listImages({ actor: admin, query: parseListImagesQuery({ registry: "inv-locked" }) });
    expect(list.items.map((i) => `${i.repository}:${i.tags.join(",")}`)).toEqual(["secure/app:1.0"]);
  });

  it("reports a 401 with the challenge when the credentials are wrong, and a 404 on /v2/ for a non-registry", async () => {
    await createRegistry({ actor: admin, input: { name: "inv-wrong", url: locked.url, readCredentials: { username: "ci-reader", password: "wrong" } } });
    const { result } = await testRegistryConnection({ actor: admin, name: "inv-wrong" });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.stage).toBe("auth");
      expect(result.challenge).toMatch(/Basic realm="imprimatur-test"/);
    }
    const ok = await testRegistryConnection({ actor: admin, name: "inv-locked" });
    expect(ok.result.ok).toBe(true);
  });

  it("refuses link-local and metadata addresses unless an admin allows them", async () => {
    await expect(createRegistry({ actor: admin, input: { name: "inv-meta", url: "http://169.254.169.254" } })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "url",
    });
    const r = await createRegistry({ actor: admin, input: { name: "inv-meta", url: "http://169.254.169.254", allowLinkLocal: true } });
    expect(r.allowLinkLocal).toBe(true);
    expect(JSON.stringify(r)).not.toContain("password");
  });
});

describe("a tag is not an approval", () => {
  it("records tag moves, warns on an approved digest's moved tag, and marks a really deleted digest", async () => {
    const a = img("release-a");
    const b = img("release-b");
    await pushImage(openClient, "team/api", a, ["1.0", "stable"]);
    await syncRegistry({ actor: admin, registry: "inv-open" });
    await requestAndApprove({ actor: await alice(), registry: "inv-open", repository: "team/api", digest: a.digest, stage: "test", comment: "ok" });

    await pushImage(openClient, "team/api", b, ["1.0"]);
    const second = await syncRegistry({ actor: admin, registry: "inv-open" });
    expect(second.tagMoves).toBe(1);
    const events = await db.tagEvent.findMany({ where: { tag: "1.0", repository: { name: "team/api" } }, orderBy: { seenAt: "asc" } });
    expect(events.map((e) => [e.fromDigest, e.toDigest])).toEqual([
      [null, a.digest],
      [a.digest, b.digest],
    ]);

    const pageA = await getImage({ actor: admin, registry: "inv-open", repository: "team/api", digest: a.digest });
    expect(pageA.tagHistory.find((e) => e.tag === "1.0" && e.to === b.digest)?.movedAfterApproval).toBe(true);
    const list = await listImages({ actor: admin, query: parseListImagesQuery({ registry: "inv-open", repository: "team/api" }) });
    const rowB = list.items.find((i) => i.digest === b.digest)!;
    expect(rowB.warnings.join(" ")).toMatch(/moved here .* approved for test/);
    const rowA = list.items.find((i) => i.digest === a.digest)!;
    expect(rowA.tags).toEqual(["stable"]);
    expect(rowA.warnings.join(" ")).toMatch(/moved away from this approved digest/);

    // Untagged but still in the registry: not deleted.
    const c = img("untagged-later");
    await pushImage(openClient, "team/api", c, ["tmp"]);
    await syncRegistry({ actor: admin, registry: "inv-open" });
    await pushImage(openClient, "team/api", img("replaces-tmp"), ["tmp"]);
    await syncRegistry({ actor: admin, registry: "inv-open" });
    expect((await db.image.findFirstOrThrow({ where: { digest: c.digest } })).deletedAt).toBeNull();

    // Really gone (deleted by digest, then the tag with it): marked deleted, approval kept.
    const res = await fetch(`${open.url}/v2/team/api/manifests/${a.digest}`, { method: "DELETE" });
    expect(res.status).toBe(202);
    const third = await syncRegistry({ actor: admin, registry: "inv-open" });
    expect(third.deleted).toBeGreaterThanOrEqual(1);
    const gone = await db.image.findFirstOrThrow({ where: { digest: a.digest }, include: { approvals: true } });
    expect(gone.deletedAt).not.toBeNull();
    expect(gone.approvals).toHaveLength(1);
    const deletedOnly = await listImages({ actor: admin, query: parseListImagesQuery({ registry: "inv-open", deleted: "only" }) });
    expect(deletedOnly.items.map((i) => i.digest)).toContain(a.digest);
  });

  it("re-syncs an unchanged registry without fetching a single manifest body", async () => {
    await syncRegistry({ actor: admin, registry: "inv-open" });
    const again = await syncRegistry({ actor: admin, registry: "inv-open" });
    expect(again.errors).toEqual([]);
    expect(again.manifestBodiesFetched).toBe(0);
    expect(again.newManifests).toBe(0);
  });
});

describe("accessories", () => {
  it("finds cosign signatures by tag and referrers through the tag schema, and classifies them", async () => {
    await pushOciLayout(openClient, "publisher/base", join(FIXTURE, "oci-layout"));
    const subject = "sha256:20185a9526a2374f5af416a14a371b119e04a6e8c0f11867c07a94e1f7f32904" as Digest;
    // An SBOM attached as an OCI 1.1 referrer, with the tag-schema fallback index a client writes on Distribution 2.8.
    const sbom = Buffer.from(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", components: [] }));
    const empty = Buffer.from("{}");
    await openClient.putBlob("publisher/base", sbom);
    await openClient.putBlob("publisher/base", empty);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.cyclonedx+json",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(empty), size: 2 },
        layers: [{ mediaType: "application/vnd.cyclonedx+json", digest: sha256Digest(sbom), size: sbom.length }],
        subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: 526 },
      }),
    );
    const md = sha256Digest(manifest);
    await openClient.putManifest("publisher/base", md, manifest, "application/vnd.oci.image.manifest.v1+json");
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: md, size: manifest.length, artifactType: "application/vnd.cyclonedx+json" },
        ],
      }),
    );
    await openClient.putManifest("publisher/base", subject.replace(":", "-"), index, "application/vnd.oci.image.index.v1+json");

    const r = await syncRegistry({ actor: admin, registry: "inv-open" });
    expect(r.errors).toEqual([]);
    const page = await getImage({ actor: admin, registry: "inv-open", repository: "publisher/base", digest: subject });
    const kinds = page.artifacts.map((a) => `${a.kind}:${a.source}`).sort();
    expect(kinds).toEqual(["sbom:referrers-tag", "signature:cosign-tag"]);
    expect(page.signatures.map((s) => s.verdict)).toEqual(["verified"]);
    // Cosign and referrer bookkeeping tags are not images.
    const list = await listImages({ actor: admin, query: parseListImagesQuery({ registry: "inv-open", repository: "publisher/base" }) });
    expect(list.items.map((i) => i.tags)).toEqual([["1.0"]]);
  });
});

describe("faults are stored per repository and the sync goes on", () => {
  it("stores the error of a configured repository that does not exist and syncs the others", async () => {
    await pushImage(openClient, "listed/ok", img("listed"), ["1"]);
    await updateRegistry({ actor: admin, name: "inv-open", input: { repositories: ["listed/ok", "listed/missing"] } });
    const r = await syncRegistry({ actor: admin, registry: "inv-open" });
    expect(r.repositories).toBe(1);
    expect(r.errors.map((e) => e.repository)).toEqual(["listed/missing"]);
    const repo = await db.repository.findFirstOrThrow({ where: { name: "listed/missing", registry: { name: "inv-open" } } });
    expect(repo.lastError).toMatch(/not found/);
    const run = await db.syncRun.findUniqueOrThrow({ where: { id: r.syncRunId } });
    expect(run.status).toBe("succeeded");
    expect(run.reposDone).toBe(2);
    await updateRegistry({ actor: admin, name: "inv-open", input: { repositories: [] } });
  });
});

describe("current without waste", () => {
  it("a registry webhook queues a job that syncs just that repository", async () => {
    await startWorkers();
    const { token } = await rotateWebhookToken({ actor: admin, name: "inv-open" });
    await expect(handleNotification({ registryName: "inv-open", authorization: "Bearer wrong", body: {} })).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    const fresh = img("webhook");
    await pushImage(openClient, "hooked/app", fresh, ["1"]);
    const r = await handleNotification({
      registryName: "inv-open",
      authorization: `Bearer ${token}`,
      body: {
        events: [
          { action: "push", target: { repository: "hooked/app", digest: fresh.digest, tag: "1" } },
          { action: "pull", target: { repository: "other" } },
        ],
      },
    });
    expect(r.repositories).toEqual(["hooked/app"]);
    expect(r.ignored).toBe(1);
    let run = await db.syncRun.findUniqueOrThrow({ where: { id: r.queued! } });
    for (let i = 0; i < 100 && run.status !== "succeeded" && run.status !== "failed"; i++) {
      await new Promise((res) => setTimeout(res, 200));
      run = await db.syncRun.findUniqueOrThrow({ where: { id: r.queued! } });
    }
    expect(run.status).toBe("succeeded");
    expect(run.scope).toEqual(["hooked/app"]);
    expect(run.reposTotal).toBe(1);
    expect(await db.image.count({ where: { digest: fresh.digest } })).toBe(1);
    // Harbor's payload shape is understood too.
    const h = await handleNotification({
      registryName: "inv-open",
      authorization: token,
      body: { type: "PUSH_ARTIFACT", event_data: { repository: { repo_full_name: "hooked/app" }, resources: [{ digest: fresh.digest, tag: "1" }] } },
    });
    expect(h.repositories).toEqual(["hooked/app"]);
  });

  it("the schedule queues registries whose interval has elapsed", async () => {
    await updateRegistry({ actor: admin, name: "inv-locked", input: { syncIntervalMinutes: 5 } });
    await db.registry.update({ where: { name: "inv-locked" }, data: { lastSyncAt: new Date(Date.now() - 10 * 60_000) } });
    const t = await schedulerTick();
    expect(t.queued).toContain("inv-locked");
    expect(t.queued).not.toContain("inv-open");
  });
});

describe("the list at scale", () => {
  it("filters by stage, signature, digest prefix and tag, and paginates", async () => {
    const q = async (o: Record<string, string>) => listImages({ actor: admin, query: parseListImagesQuery({ registry: "inv-open", ...o }) });
    const all = await q({ pageSize: "2" });
    expect(all.items).toHaveLength(2);
    expect(all.total).toBeGreaterThan(2);
    const page2 = await q({ pageSize: "2", page: "2" });
    expect(page2.items.map((i) => i.digest)).not.toContain(all.items[0]!.digest);
    const verified = await q({ signed: "verified" });
    expect(verified.items.map((i) => i.repository)).toContain("publisher/base");
    const unsigned = await q({ signed: "unsigned" });
    expect(unsigned.items.map((i) => i.repository)).not.toContain("publisher/base");
    const pub = verified.items.find((i) => i.repository === "publisher/base")!;
    const byPrefix = await q({ digest: pub.digest.slice(7, 17) });
    expect(byPrefix.items.map((i) => i.digest)).toEqual([pub.digest]);
    const byTag = await q({ tag: "stab" });
    expect(byTag.items.every((i) => i.tags.some((t) => t.includes("stab")))).toBe(true);
    await expect(q({ digest: "xyz" })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "digest" });
  });
});

describe("registry credentials never leave the server", () => {
  it("stores no plaintext secret in any column", async () => {
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    const { rows } = await c.query(`SELECT row_to_json(r)::text AS j FROM registries r`);
    await c.end();
    expect(rows.some((r) => r.j.includes(creds.password))).toBe(false);
  });
});

// The registry is untrusted: each fault becomes a clear error stored on the repository concerned, the rest
// of the sync goes on, and nothing is stored half. Distribution can't be made to misbehave, so a small proxy
// in front of the real docker-registry does, on purpose, for some repositories.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { createRegistry } from "../registries/create-registry";
import { syncRegistry } from "./sync-registry";

const admin: Actor = { kind: "system", label: "faults-test" };
let registry: RegistryHandle;
let proxy: Server;
let proxyUrl: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  process.env.REGISTRY_TIMEOUT_MS = "1500";
  resetEnvCache();
  registry = await startRegistry({});
  const client = new RegistryClient({ url: registry.url });
  for (const repo of ["good/app", "fault/digest", "fault/json", "fault/flaky", "fault/slow", "fault/huge", "fault/unknown"]) {
    await pushImage(client, repo, buildImage({ architecture: "amd64", layers: [{ "repo.txt": repo }] }), ["1.0"]);
  }
  const port = await freePort();
  proxy = createServer(async (req, res) => {
    const url = req.url ?? "/";
    const key = `${req.method} ${url.replace(/\?.*$/, "")}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    if (url.startsWith("/v2/fault/flaky/tags/list") && hits.get(key)! <= 2) {
      res.writeHead(503).end("try later");
      return;
    }
    if (url.startsWith("/v2/fault/slow/tags/list")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"name":"fault/slow","tags":[');
      return; // stalls: never finishes the body
    }
    const upstream = await fetch(registry.url + url, { method: req.method, headers: { accept: String(req.headers.accept ?? "*/*") } });
    const body = Buffer.from(await upstream.arrayBuffer());
    const headers: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "transfer-encoding") headers[k] = v;
    });
    const isManifestGet = req.method === "GET" && /\/manifests\/1\.0$/.test(url);
    if (isManifestGet && url.startsWith("/v2/fault/digest/")) {
      res.writeHead(200, headers).end(Buffer.concat([body, Buffer.from(" ")]));
      return;
    }
    if (isManifestGet && url.startsWith("/v2/fault/json/")) {
      res.writeHead(200, { ...headers, "docker-content-digest": "" }).end("{not json");
      return;
    }
    if (isManifestGet && url.startsWith("/v2/fault/huge/")) {
      res.writeHead(200, { ...headers, "docker-content-digest": "" }).end(Buffer.alloc(5 * 1024 * 1024, 0x20));
      return;
    }
    if (isManifestGet && url.startsWith("/v2/fault/unknown/")) {
      const doc = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.example.unknown+json", payload: "x" }));
      res.writeHead(200, { ...headers, "docker-content-digest": "", "content-type": "application/vnd.example.unknown+json" }).end(doc);
      return;
    }
    res.writeHead(upstream.status, headers).end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${port}`;
  await createRegistry({ actor: admin, input: { name: "faulty", url: proxyUrl } });
});

afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((r) => proxy.close(r));
  await registry.destroy();
  await disconnectDb();
});

describe("a hostile or broken registry", () => {
  it("stores a clear error per faulty repository, retries what may succeed, and syncs the rest", async () => {
    const r = await syncRegistry({ actor: admin, registry: "faulty" });
    const byRepo = Object.fromEntries(r.errors.map((e) => [e.repository, e.message]));
    expect(Object.keys(byRepo).sort()).toEqual(["fault/digest", "fault/huge", "fault/json", "fault/slow"]);
    expect(byRepo["fault/digest"]).toMatch(/registry says sha256:[a-f0-9]{64}, bytes hash to sha256:/);
    expect(byRepo["fault/json"]).toMatch(/not valid JSON/i);
    expect(byRepo["fault/huge"]).toMatch(/limit/);
    expect(byRepo["fault/slow"]).toMatch(/time|unreachable|abort/i);
    // 503 twice, then the listing succeeds: retried with backoff.
    expect(hits.get("GET /v2/fault/flaky/tags/list")).toBe(3);

    const stored = await db.repository.findMany({ where: { registry: { name: "faulty" } }, include: { images: true, tags: true } });
    const repo = (n: string) => stored.find((s) => s.name === n)!;
    for (const bad of ["fault/digest", "fault/json", "fault/huge", "fault/slow"]) {
      expect(repo(bad).lastError).toBe(byRepo[bad]);
      expect(repo(bad).images).toHaveLength(0);
      expect(repo(bad).tags).toHaveLength(0);
    }
    expect(repo("good/app").lastError).toBeNull();
    expect(repo("good/app").tags.map((t) => t.name)).toEqual(["1.0"]);
    expect(repo("fault/flaky").tags.map((t) => t.name)).toEqual(["1.0"]);
    // An unknown media type is kept, and shown as unknown.
    expect(repo("fault/unknown").images.map((i) => i.mediaType)).toEqual(["application/vnd.example.unknown+json"]);
    const run = await db.syncRun.findUniqueOrThrow({ where: { id: r.syncRunId } });
    expect(run.status).toBe("succeeded");
    expect((run.errors as unknown[]).length).toBe(4);
  });
});

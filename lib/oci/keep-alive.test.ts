import { describe, expect, it } from "vitest";
import { RegistryClient } from "./client";
import { sha256Digest } from "./digest";
import { MT } from "./media-types";
import { json, useFakeServers } from "./testdata/fake-server";

const serve = useFakeServers();
const DIGEST = sha256Digest("manifest");

/** A registry that answers HEAD and GET of manifests and records which TCP connection (client port) each used. */
async function registry(opts: { bodyOnHead?: boolean } = {}) {
  const ports: number[] = [];
  const s = await serve((req, res) => {
    ports.push(req.socket.remotePort ?? -1);
    if (req.url?.startsWith("/v2/app/manifests/")) {
      const body = Buffer.from('{"schemaVersion":2}');
      res.writeHead(200, { "content-type": MT.ociManifest, "docker-content-digest": DIGEST, "content-length": String(body.length) });
      // A misbehaving registry that sends a body after a HEAD.
      return req.method === "HEAD" && !opts.bodyOnHead ? res.end() : res.end(body);
    }
    json(res, 404, {});
  });
  return { s, connections: () => new Set(ports).size };
}

describe("keep-alive for HEADs", () => {
  it("sends many HEADs over one kept-alive connection (undici alone closes the connection after every HEAD)", async () => {
    const { s, connections } = await registry();
    const client = new RegistryClient({ url: s.url, retries: 0, timeoutMs: 3000 });
    for (let i = 0; i < 20; i++) expect((await client.headManifest("app", `v${i}`))?.digest).toBe(DIGEST);
    expect(s.requests.filter((r) => r.method === "HEAD")).toHaveLength(20);
    // Sequential requests alternate between at most two pooled connections (the pool may dispatch the next
    // request before the previous socket is marked free), never one per request.
    expect(connections()).toBeLessThanOrEqual(2);
  });

  it("a plain fetch without the interceptor opens a connection per HEAD (what this guards against)", async () => {
    const { s, connections } = await registry();
    for (let i = 0; i < 5; i++) await fetch(`${s.url}/v2/app/manifests/v${i}`, { method: "HEAD" });
    expect(connections()).toBe(5);
  });

  it("HEADs and GETs share the pool; GET bodies stay intact after HEADs on the same connection", async () => {
    const { s, connections } = await registry();
    const client = new RegistryClient({ url: s.url, retries: 0, timeoutMs: 3000 });
    for (let i = 0; i < 5; i++) {
      await client.headManifest("app", `v${i}`);
      // The body hashes to another digest than the header claims: a tag GET of it is refused, proving the body was read whole.
      await expect(client.getManifest("app", `v${i}`)).rejects.toMatchObject({ code: "DIGEST_MISMATCH" });
    }
    expect(connections()).toBeLessThanOrEqual(2);
  });

  it("a registry that sends a body after a HEAD gets an error or a checked answer, never a wrong digest accepted", async () => {
    const { s } = await registry({ bodyOnHead: true });
    const client = new RegistryClient({ url: s.url, retries: 0, timeoutMs: 3000 });
    for (let i = 0; i < 5; i++) {
      try {
        const head = await client.headManifest("app", `v${i}`);
        expect(head?.digest).toBe(DIGEST);
      } catch (e) {
        expect((e as { code?: string }).code).toBe("UNAVAILABLE");
      }
    }
  });
});

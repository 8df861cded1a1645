import { describe, expect, it } from "vitest";
import { RegistryClient, type RegistryClientOptions } from "./client";
import { sha256Digest } from "./digest";
import { parseManifest } from "./manifest";
import { json, useFakeServers, errorOf } from "./testdata/fake-server";

const serve = useFakeServers();

function client(url: string, extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ url, retries: 1, retryBaseMs: 1, timeoutMs: 2000, ...extra });
}

async function drain<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

describe("untrusted bytes", () => {
  it("rejects a manifest whose bytes do not hash to the requested digest", async () => {
    const good = Buffer.from('{"schemaVersion":2,"config":{},"layers":[]}');
    const asked = sha256Digest("something else");
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST });
      res.end(good);
    });
    const e = await errorOf(client(s.url).getManifest("a/b", asked));
    expect(e.code).toBe("DIGEST_MISMATCH");
    expect(e.message).toContain(sha256Digest(good));
  });

  it("rejects a blob with the wrong bytes, and getBlobUnverified returns them as is", async () => {
    const asked = sha256Digest("the real config");
    const s = await serve((_req, res) => res.end("tampered config"));
    expect((await errorOf(client(s.url).getBlob("a/b", asked))).code).toBe("DIGEST_MISMATCH");
    expect((await client(s.url).getBlobUnverified("a/b", asked)).toString()).toBe("tampered config");
  });

  it("refuses a manifest over 4 MiB, announced by Content-Length", async () => {
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": String(big.length) });
      res.end(big);
    });
    const e = await errorOf(client(s.url).getManifest("a/b", "big"));
    expect(e.code).toBe("TOO_LARGE");
    expect(e.message).toMatch(/4194305 bytes, over the 4194304-byte limit/);
  });

  it("refuses a chunked manifest that grows past 4 MiB while streaming", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST });
      const chunk = Buffer.alloc(512 * 1024, 0x20);
      for (let i = 0; i < 9; i++) res.write(chunk);
      res.end();
    });
    const e = await errorOf(client(s.url).getManifest("a/b", "big"));
    expect(e.code).toBe("TOO_LARGE");
    expect(e.message).toMatch(/exceeds the 4194304-byte limit/);
  });

  it("a malformed JSON manifest is fetched but does not parse: BAD_RESPONSE", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST });
      res.end('{"schemaVersion":2,"config":');
    });
    const m = await client(s.url).getManifest("a/b", "broken");
    const e = await errorOf(Promise.resolve().then(() => parseManifest(m.bytes, m.mediaType)));
    expect(e.code).toBe("BAD_RESPONSE");
    expect(e.message).toMatch(/not valid JSON/);
  });

  it("an unknown manifest media type is kept as kind unknown", async () => {
    const doc = { schemaVersion: 1, name: "a/b", tag: "old", fsLayers: [{ blobSum: "sha256:00" }] };
    const s = await serve((_req, res) => json(res, 200, doc, { "content-type": "application/vnd.docker.distribution.manifest.v1+prettyjws" }));
    const m = await client(s.url).getManifest("a/b", "old");
    const p = parseManifest(m.bytes, m.mediaType);
    expect(p).toEqual({ kind: "unknown", mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws", json: doc });
  });

  it("a listing that is not JSON is BAD_RESPONSE, not a SyntaxError", async () => {
    const s = await serve((_req, res) => res.end("<html>proxy error</html>"));
    const e = await errorOf(drain(client(s.url).tags("a/b")));
    expect(e.code).toBe("BAD_RESPONSE");
  });
});

describe("timeouts", () => {
  it("times out a body that stalls mid-stream", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": "1000" });
      res.write('{"schemaVersion":2,');
      // ...and never finishes.
    });
    const started = Date.now();
    const e = await errorOf(client(s.url, { timeoutMs: 300 }).getManifest("a/b", "slow"));
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.reason).toBe("timeout");
    expect(e.message).toMatch(/timed out reading manifest a\/b:slow after 19 bytes/);
    // Not a timing assertion on speed: only that it did not hang until the test timeout.
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("times out a server that never sends headers, and does not retry the timeout", async () => {
    const s = await serve(() => {
      /* accept and say nothing */
    });
    const e = await errorOf(client(s.url, { timeoutMs: 200, retries: 3 }).ping());
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.reason).toBe("timeout");
    expect(e.message).toMatch(/did not answer within 200 ms/);
    expect(s.count("/v2/")).toBe(1);
  });
});

describe("pagination", () => {
  it("follows Link pages on the same origin", async () => {
    const s = await serve((req, res) => {
      if (req.url === "/v2/a/tags/list?n=1000") json(res, 200, { tags: ["1", "2"] }, { link: '</v2/a/tags/list?n=2&last=2>; rel="next"' });
      else json(res, 200, { tags: ["3"] });
    });
    expect(await drain(client(s.url).tags("a"))).toEqual(["1", "2", "3"]);
  });

  it("detects a Link loop", async () => {
    const s = await serve((req, res) => {
      if (req.url?.includes("last=b")) json(res, 200, { repositories: ["c"] }, { link: '</v2/_catalog?last=a>; rel="next"' });
      else json(res, 200, { repositories: ["a", "b"] }, { link: '</v2/_catalog?last=b>; rel="next"' });
    });
    const e = await errorOf(drain(client(s.url).catalog()));
    expect(e.code).toBe("BAD_RESPONSE");
    // first page → last=b → last=a → last=b again
    expect(e.message).toMatch(/pagination loops at .*\/v2\/_catalog\?last=b$/);
    expect(s.requests).toHaveLength(3);
  });

  it("refuses a Link to another origin without requesting it", async () => {
    const other = await serve((_req, res) => json(res, 200, { tags: ["stolen"] }));
    const s = await serve((_req, res) => json(res, 200, { tags: ["1"] }, { link: `<${other.url}/v2/a/tags/list?last=1>; rel="next"` }));
    const e = await errorOf(drain(client(s.url, { username: "u", password: "p" }).tags("a")));
    expect(e.code).toBe("BAD_RESPONSE");
    expect(e.message).toMatch(/another origin/);
    expect(other.requests).toHaveLength(0);
  });

  it("caps the number of tags and repositories", async () => {
    const s = await serve((req, res) => {
      const page = Number(/p=(\d+)/.exec(req.url ?? "")?.[1] ?? 0);
      const key = req.url?.startsWith("/v2/_catalog") ? "repositories" : "tags";
      const path = key === "tags" ? "/v2/a/tags/list" : "/v2/_catalog";
      json(res, 200, { [key]: [`x${page}a`, `x${page}b`] }, { link: `<${path}?p=${page + 1}>; rel="next"` });
    });
    const e1 = await errorOf(drain(client(s.url, { maxTags: 5 }).tags("a")));
    expect(e1.code).toBe("TOO_LARGE");
    expect(e1.message).toMatch(/more than 5 tags \(the maxTags limit\)/);
    expect(s.count("/v2/a/tags/list")).toBe(3);
    const e2 = await errorOf(drain(client(s.url, { maxRepositories: 3 }).catalog()));
    expect(e2.code).toBe("TOO_LARGE");
    expect(e2.message).toMatch(/maxRepositories/);
  });
});

describe("Basic credentials", () => {
  it("are not sent until the registry's own origin answers 401 with a Basic challenge", async () => {
    // A host that never asks (an admin pointed the registry at it) learns nothing.
    const collector = await serve((_req, res) => json(res, 200, {}));
    await client(collector.url, { username: "alice", password: "secret" }).ping();
    await client(collector.url, { username: "alice", password: "secret" })
      .getManifest("a/b", "latest")
      .catch(() => {});
    expect(collector.requests.length).toBeGreaterThan(0);
    expect(collector.requests.every((r) => r.authorization === undefined)).toBe(true);

    // A registry that asks gets them on the retry, and from then on with every request.
    const s = await serve((req, res) =>
      req.headers.authorization ? json(res, 200, {}) : json(res, 401, {}, { "www-authenticate": 'Basic realm="registry"' }),
    );
    const c = client(s.url, { username: "alice", password: "secret" });
    await c.ping();
    await c.ping();
    expect(s.requests.map((r) => r.authorization?.slice(0, 6))).toEqual([undefined, "Basic ", "Basic "]);
  });
});

describe("redirects", () => {
  it("sends no Authorization header to a redirect target on another host", async () => {
    const blob = Buffer.from("layer bytes");
    const cdn = await serve((_req, res) => res.end(blob));
    // Another origin on the same machine: "localhost" instead of "127.0.0.1".
    const cdnUrl = cdn.url.replace("127.0.0.1", "localhost");
    const s = await serve((req, res) => {
      if (!req.headers.authorization) return json(res, 401, {}, { "www-authenticate": 'Basic realm="registry"' });
      res.writeHead(307, { location: `${cdnUrl}/blobs/x?sig=abc` });
      res.end();
    });
    const bytes = await client(s.url, { username: "alice", password: "secret" }).getBlob("a/b", sha256Digest(blob));
    expect(bytes.toString()).toBe("layer bytes");
    expect(s.requests[0]?.authorization).toBeUndefined();
    expect(s.requests[1]?.authorization).toMatch(/^Basic /);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]?.authorization).toBeUndefined();
  });

  it("keeps credentials on a same-origin redirect", async () => {
    const s = await serve((req, res) => {
      if (!req.headers.authorization) json(res, 401, {}, { "www-authenticate": 'Basic realm="registry"' });
      else if (req.url === "/v2/") {
        res.writeHead(301, { location: "/v2/moved" });
        res.end();
      } else json(res, 200, {});
    });
    await client(s.url, { username: "alice", password: "secret" }).ping();
    expect(s.requests.map((r) => r.authorization?.slice(0, 6))).toEqual([undefined, "Basic ", "Basic "]);
  });

  it("stops after maxRedirects hops", async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      res.writeHead(302, { location: `/v2/hop${n++}` });
      res.end();
    });
    const e = await errorOf(client(s.url, { maxRedirects: 3 }).ping());
    expect(e.code).toBe("BAD_RESPONSE");
    expect(e.message).toMatch(/more than 3 redirects/);
    expect(s.requests).toHaveLength(4);
  });

  it("does not send credentials to an absolute upload Location on another origin", async () => {
    const storage = await serve((_req, res) => {
      res.writeHead(201);
      res.end();
    });
    const s = await serve((req, res) => {
      if (!req.headers.authorization) {
        json(res, 401, {}, { "www-authenticate": 'Basic realm="registry"' });
      } else if (req.method === "HEAD") {
        res.writeHead(404);
        res.end();
      } else {
        res.writeHead(202, { location: `${storage.url.replace("127.0.0.1", "localhost")}/upload/1` });
        res.end();
      }
    });
    await client(s.url, { username: "alice", password: "secret" }).putBlob("a/b", Buffer.from("x"));
    expect(s.requests[0]?.authorization).toBeUndefined();
    expect(s.requests.slice(1).every((r) => r.authorization?.startsWith("Basic "))).toBe(true);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]?.authorization).toBeUndefined();
  });
});

describe("reads through the dispatcher API (HEADs, manifest and blob GETs, listings)", () => {
  it("a HEAD answers a Basic challenge only when the registry's origin asks, and keeps no credentials for a redirect elsewhere", async () => {
    const other = await serve((_req, res) => {
      res.writeHead(200, { "docker-content-digest": sha256Digest("m") });
      res.end();
    });
    const otherUrl = other.url.replace("127.0.0.1", "localhost");
    const s = await serve((req, res) => {
      if (!req.headers.authorization) return json(res, 401, {}, { "www-authenticate": 'Basic realm="registry"' });
      res.writeHead(307, { location: `${otherUrl}/v2/a/b/manifests/v1` });
      res.end();
    });
    const head = await client(s.url, { username: "alice", password: "secret" }).headManifest("a/b", "v1");
    expect(head?.digest).toBe(sha256Digest("m"));
    expect(s.requests.map((r) => [r.method, r.authorization?.slice(0, 6)])).toEqual([
      ["HEAD", undefined],
      ["HEAD", "Basic "],
    ]);
    expect(other.requests.map((r) => [r.method, r.authorization])).toEqual([["HEAD", undefined]]);
  });

  it("a HEAD stops after maxRedirects hops and is not followed by the dispatcher itself", async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      res.writeHead(302, { location: `/v2/a/b/manifests/hop${n++}` });
      res.end();
    });
    const e = await errorOf(client(s.url, { maxRedirects: 2 }).headManifest("a/b", "v1"));
    expect(e.code).toBe("BAD_RESPONSE");
    expect(e.message).toMatch(/more than 2 redirects/);
    expect(s.requests).toHaveLength(3);
  });

  it("a GET's error names the registry's status and reads at most 64 KiB of a huge error body", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("x".repeat(2 * 1024 * 1024));
    });
    const e = await errorOf(client(s.url).getManifest("a/b", "v1"));
    expect(e.code).toBe("BAD_RESPONSE");
    expect(e.message).toMatch(/HTTP 400 x{10}/);
  });
});

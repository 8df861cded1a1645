import { afterEach, describe, expect, it } from "vitest";
import { RegistryClient, type RegistryClientOptions } from "./client";
import { backoffMs, isRetryableStatus, parseRetryAfter } from "./retry";
import { fakeServer, json, type FakeServer, errorOf } from "./testdata/fake-server";

let server: FakeServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A client whose waits are recorded instead of slept. */
function client(url: string, extra: Partial<RegistryClientOptions> = {}) {
  const waits: number[] = [];
  const c = new RegistryClient({
    url,
    retries: 3,
    retryBaseMs: 4,
    timeoutMs: 2000,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...extra,
  });
  return { c, waits };
}

describe("retry policy (pure)", () => {
  it("retries only 408, 429 and 5xx", () => {
    expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 405, 409, 410, 499, 600].some(isRetryableStatus)).toBe(false);
  });

  it("reads Retry-After as seconds or as an HTTP-date", () => {
    const now = Date.parse("2024-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Mon, 01 Jan 2024 00:00:12 GMT", now)).toBe(12_000);
    expect(parseRetryAfter("Sun, 31 Dec 2023 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("-3", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it("backs off exponentially with jitter, capped", () => {
    const p = { baseMs: 100, maxWaitMs: 1000 };
    expect(backoffMs(0, p, () => 0)).toBe(50);
    expect(backoffMs(0, p, () => 1)).toBe(100);
    expect(backoffMs(2, p, () => 1)).toBe(400);
    expect(backoffMs(10, p, () => 1)).toBe(1000);
  });
});

describe("RegistryClient retries", () => {
  it("honours Retry-After on 429, then succeeds", async () => {
    let n = 0;
    server = await fakeServer((_req, res) => (n++ === 0 ? json(res, 429, {}, { "retry-after": "2" }) : json(res, 200, {})));
    const { c, waits } = client(server.url);
    await c.ping();
    expect(server.count("/v2/")).toBe(2);
    expect(waits).toEqual([2000]);
  });

  it("honours an HTTP-date Retry-After", async () => {
    let n = 0;
    server = await fakeServer((_req, res) =>
      n++ === 0 ? json(res, 503, {}, { "retry-after": new Date(Date.now() + 5000).toUTCString() }) : json(res, 200, {}),
    );
    const { c, waits } = client(server.url);
    await c.ping();
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(3000);
    expect(waits[0]).toBeLessThanOrEqual(5000);
  });

  it("retries 503 twice with growing backoff, then succeeds", async () => {
    let n = 0;
    server = await fakeServer((_req, res) => (n++ < 2 ? json(res, 503, { errors: [] }) : json(res, 200, {})));
    const { c, waits } = client(server.url, { retryBaseMs: 100 });
    await c.ping();
    expect(server.count("/v2/")).toBe(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[1]).toBeLessThanOrEqual(200);
  });

  it("gives up after `retries` retries with UNAVAILABLE", async () => {
    server = await fakeServer((_req, res) => json(res, 502, {}));
    const { c } = client(server.url, { retries: 2 });
    const e = await errorOf(c.ping());
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.status).toBe(502);
    expect(server.count("/v2/")).toBe(3);
  });

  it("does not wait for a Retry-After beyond the cap: one request, UNAVAILABLE naming it", async () => {
    server = await fakeServer((_req, res) => json(res, 429, {}, { "retry-after": "3600" }));
    const { c, waits } = client(server.url, { maxRetryWaitMs: 1000 });
    const e = await errorOf(c.ping());
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.message).toMatch(/rate limited \(429\), Retry-After 3600/);
    expect(server.count("/v2/")).toBe(1);
    expect(waits).toEqual([]);
  });

  it.each([
    [401, "UNAUTHORIZED"],
    [403, "UNAUTHORIZED"],
    [404, "NOT_FOUND"],
    [400, "BAD_RESPONSE"],
  ])("never retries %i", async (status, code) => {
    server = await fakeServer((_req, res) => json(res, status, {}, status === 401 ? { "www-authenticate": 'Basic realm="r"' } : {}));
    const { c, waits } = client(server.url, { username: "u", password: "p" });
    const e = await errorOf(c.getManifest("a/b", "latest"));
    expect(e.code).toBe(code);
    // A 401 Basic challenge is answered once with the credentials (they are never sent before it asks); not retried.
    expect(server.count("/v2/a/b/manifests/latest")).toBe(status === 401 ? 2 : 1);
    expect(waits).toEqual([]);
  });

  it("retries a dropped connection for GET but not for POST", async () => {
    let drops = 1;
    server = await fakeServer((req, res) => {
      if (drops-- > 0) {
        req.socket.destroy();
        return;
      }
      json(res, 200, {});
    });
    const { c, waits } = client(server.url);
    await c.ping();
    expect(server.count("/v2/")).toBe(2);
    expect(waits).toHaveLength(1);

    server.requests.length = 0;
    drops = 1;
    const e = await errorOf(c.request("/v2/x/blobs/uploads/", { method: "POST" }));
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.reason).toBe("connect");
    expect(server.count("/v2/x/blobs/uploads/")).toBe(1);
  });

  it("retries PUT of a manifest on 500 (the body is sent again)", async () => {
    let n = 0;
    const bodies: number[] = [];
    server = await fakeServer(async (req, res) => {
      let len = 0;
      req.on("data", (c: Buffer) => (len += c.length));
      await new Promise((r) => req.on("end", r));
      bodies.push(len);
      if (n++ === 0) json(res, 500, {});
      else {
        res.writeHead(201);
        res.end();
      }
    });
    const { c } = client(server.url);
    await c.putManifest("a/b", "t", Buffer.from('{"schemaVersion":2}'), "application/vnd.oci.image.manifest.v1+json");
    expect(bodies).toEqual([19, 19]);
  });
});

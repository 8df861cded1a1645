// The registry client's time budget is a total per request, kept in the dispatcher: a hostile registry that drips
// its body (a byte now and then, never idle for long) is still cut off when the budget runs out, and a request that
// finishes in time leaves nothing behind that fires later.
import { describe, expect, it } from "vitest";
import { RegistryClient } from "../client";
import { errorOf, useFakeServers } from "../testdata/fake-server";

const serve = useFakeServers();
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

describe("request time budget", () => {
  it("ends a body that drips a byte every 40 ms once the whole request has taken its budget", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": OCI_MANIFEST, "content-length": "100000" });
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(" ")), 40);
      res.on("close", () => clearInterval(drip));
    });
    const started = Date.now();
    const e = await errorOf(new RegistryClient({ url: s.url, retries: 0, timeoutMs: 400 }).getManifest("a/b", "drip"));
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.reason).toBe("timeout");
    expect(e.message).toMatch(/timed out reading manifest a\/b:drip after [1-9]\d* bytes/);
    // Not a speed assertion: only that the drip did not hold the request until the test's own timeout.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("names the budget when the registry sends no headers, over the dispatcher's own deadline", async () => {
    const s = await serve(() => {
      /* accept and say nothing */
    });
    const e = await errorOf(new RegistryClient({ url: s.url, retries: 0, timeoutMs: 150 }).ping());
    expect(e.code).toBe("UNAVAILABLE");
    expect(e.reason).toBe("timeout");
    expect(e.message).toMatch(/did not answer within 150 ms/);
  });

  it("a request that finished in time is not aborted later: the next one on the same client succeeds after the budget", async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    const client = new RegistryClient({ url: s.url, retries: 0, timeoutMs: 100 });
    await client.ping();
    await new Promise((r) => setTimeout(r, 250));
    await client.ping();
    expect(s.count("/v2/")).toBe(2);
  });
});
